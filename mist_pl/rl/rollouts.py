"""One generation round's rollouts, with everything the policy updates need.

The update loop only reads this: it never samples or scores, so the same round can be
replayed for several optimizer steps (``num_iterations`` > 1) against its stored
old log-probs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Rollouts:
    """P*G rollouts; row ``p * G + g`` is completion g of prompt p."""

    prompt_ids: torch.Tensor  # [N, Lp] left-padded
    prompt_mask: torch.Tensor  # [N, Lp]
    completion_ids: torch.Tensor  # [N, Lc]
    completion_mask: torch.Tensor  # [N, Lc] generated tokens (incl. the stop token)
    loss_mask: torch.Tensor  # [N, Lc] bool: tokens that enter the loss
    advantages: torch.Tensor  # [N]
    old_logprobs: torch.Tensor | None = None  # [N, Lc] policy at sampling time
    ref_logprobs: torch.Tensor | None = None  # [N, Lc] reference model
    sampler_logprobs: torch.Tensor | None = None  # [N, Lc] the engine that sampled (None: the trainer did)
    group: torch.Tensor | None = None  # [N] which prompt each row answers (None: its own)
    # The round's micro-batches (row indices, in training order), cut once: stored log-probs
    # and every update use exactly these, so equal weights give bit-equal log-probs.
    micro_rows: list[torch.Tensor] | None = None

    def __post_init__(self) -> None:
        if self.group is None:
            self.group = torch.arange(self.prompt_ids.shape[0], device=self.prompt_ids.device)

    def __len__(self) -> int:
        return self.prompt_ids.shape[0]

    def micro_batch(self, rows: torch.Tensor) -> Rollouts:
        """The given rows, cropped to the columns any of them uses: left padding no row
        has, and completion positions after every row ended."""
        prompt_mask = self.prompt_mask[rows]
        completion_mask = self.completion_mask[rows]
        used = prompt_mask.any(0).nonzero()
        first = int(used[0]) if used.numel() else prompt_mask.shape[1] - 1
        ended = completion_mask.any(0).nonzero()
        last = int(ended[-1]) + 1 if ended.numel() else 1

        def cut(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t[rows, :last]

        return Rollouts(
            prompt_ids=self.prompt_ids[rows, first:],
            prompt_mask=prompt_mask[:, first:],
            completion_ids=cut(self.completion_ids),
            completion_mask=cut(self.completion_mask),
            loss_mask=cut(self.loss_mask),
            advantages=self.advantages[rows],
            old_logprobs=cut(self.old_logprobs),
            ref_logprobs=cut(self.ref_logprobs),
            sampler_logprobs=cut(self.sampler_logprobs),
            group=self.group[rows],
        )

    def model_inputs(self) -> dict[str, torch.Tensor]:
        return joined_inputs(self.prompt_ids, self.prompt_mask, self.completion_ids, self.completion_mask)


def joined_inputs(
    prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, completion_ids: torch.Tensor, completion_mask: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Left-padded prompt + right-padded completion as one sequence; positions count real
    tokens only, so left padding never shifts a prompt."""
    input_ids = torch.cat([prompt_ids, completion_ids], dim=1)
    attention_mask = torch.cat([prompt_mask, completion_mask], dim=1).long()
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "position_ids": position_ids}
