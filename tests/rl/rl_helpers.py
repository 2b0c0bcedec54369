"""Helpers shared by the RL tests (conftest.py holds the fixtures)."""


def chat_ids(tokenizer, text: str) -> list[int]:
    out = tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True, return_dict=True)
    return list(out["input_ids"])


def run_toy(tmp_path, steps: int, seed: int = 0, grpo: dict | None = None, sampling: dict | None = None,
            lr: float = 2e-3, callbacks=(), batch_size: int | None = None):
    """Fit the tiny model on the toy carbon task; returns (module, per-round metrics)."""
    import lightning as L

    from mist_pl.data.rl_prompts import PromptDataModule
    from mist_pl.models.factory import ModelConfig
    from mist_pl.modules.grpo import GRPOModule
    from mist_pl.modules.optim import OptimConfig
    from mist_pl.rl.config import GRPOConfig
    from mist_pl.rl.sampling import SamplingConfig

    class History(L.Callback):
        def __init__(self):
            self.rounds = []

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.rounds.append({k: float(v) for k, v in trainer.callback_metrics.items()})

    L.seed_everything(seed, verbose=False)
    grpo_cfg = GRPOConfig(**{"prompts_per_round": 4, "num_generations": 8, "micro_batch_size": 16, "beta": 0.0,
                             "reward_runner": "thread", **(grpo or {})})
    module = GRPOModule(
        lm=ModelConfig(),
        optim=OptimConfig(lr=lr, schedule="constant", weight_decay=0.0),
        grpo=grpo_cfg,
        sampling=SamplingConfig(**{"max_new_tokens": 8, **(sampling or {})}),
        rewards=[{"fn": "mist_pl.rl.toy.carbon_reward", "weight": 1.0}],
    )
    data = PromptDataModule(examples_fn="mist_pl.rl.toy.toy_examples", batch_size=batch_size or grpo_cfg.prompts_per_round,
                            seed=seed)
    history = History()
    trainer = L.Trainer(
        accelerator="cpu", devices=1, max_steps=steps, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[history, *callbacks],
        default_root_dir=str(tmp_path),
    )
    trainer.fit(module, datamodule=data)
    return module, history.rounds
