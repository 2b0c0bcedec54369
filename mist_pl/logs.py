"""One console handler for every log line, Lightning's included.

Lightning installs its own console handler on the ``lightning`` logger at import and lets
records propagate to the root logger too: once an entry point calls
``logging.basicConfig`` every Lightning INFO line is printed twice. Lightning also
advertises its cloud services (``litlogger``, ``litmodels``) on every ``Trainer``: a
demo of four training stages repeats those tips eight times.

:func:`configure_logging` sets up the root handler once, removes Lightning's own console
handlers (so each record is printed by the root handler alone) and drops the advertising
tips. ``lightning_level`` sets how much of Lightning's own talk is kept: the CLI keeps
its INFO lines (devices, ``max_steps`` reached), the demo only its warnings.
"""

from __future__ import annotations

import logging

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
# Lightning's loggers that install their own console handlers at import.
LIGHTNING_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning", "lightning_fabric")
# Messages Lightning logs to advertise a service, not to report on the run.
ADVERTISING_PREFIXES = ("💡 Tip:",)


class DropAdvertising(logging.Filter):
    """Drops Lightning's "Tip: try installing ..." records."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).lstrip().startswith(ADVERTISING_PREFIXES)


def configure_logging(level: int = logging.INFO, lightning_level: int = logging.INFO) -> None:
    """Root console handler at ``level`` (added once); Lightning's records go through it
    alone, at ``lightning_level`` and without advertising. Safe to call repeatedly: the
    Lightning packages are imported first, so their import-time handlers exist and are
    removed here rather than added afterwards."""
    import lightning.pytorch  # noqa: F401 - its import installs the handlers removed below

    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format=LOG_FORMAT)
    else:
        root.setLevel(level)
    for handler in root.handlers:
        if not any(isinstance(f, DropAdvertising) for f in handler.filters):
            handler.addFilter(DropAdvertising())
    for name in LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        for handler in [h for h in logger.handlers if type(h) is logging.StreamHandler]:
            logger.removeHandler(handler)
        logger.propagate = True
        logger.setLevel(lightning_level)
