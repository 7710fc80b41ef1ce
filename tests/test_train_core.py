"""The training core every method uses: accumulation, schedules, eval mode, empty batches,
memory given back."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

from goldpan.llm import GenerationParams
from goldpan.llm.client import LLM
from goldpan.llm.transformers_backend import TransformersBackend
from goldpan.train import (
    IGNORE,
    Encoded,
    TrainConfig,
    Trainer,
    encode_example,
    lr_multiplier,
)

PAIRS = [
    ("Name a primary colour.", "Red is a primary colour, and so is blue."),
    ("What is two plus two?", "Four."),
    ("Give a synonym for happy.", "Glad is a synonym for happy."),
    ("Translate 'cat' into French.", "The French word for cat is chat."),
    ("Name a planet.", "Mars."),
    ("What colour is the sky?", "The sky is blue on a clear day, grey when it rains."),
    ("Name a fruit.", "An apple is a fruit."),
    ("What is three plus one?", "Three plus one is four."),
]


@pytest.fixture()
def model_and_examples(tiny_lm: Path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    model = AutoModelForCausalLM.from_pretrained(tiny_lm, dtype=torch.float32)
    examples = [encode_example(tokenizer, i, r, 64) for i, r in PAIRS]
    return model, tokenizer, examples


def _weights(model) -> list[torch.Tensor]:  # type: ignore[no-untyped-def]
    return [p.detach().clone() for p in model.parameters()]


def test_accumulating_k_micro_batches_equals_one_batch_k_times_larger(model_and_examples) -> None:
    model, tokenizer, examples = model_and_examples
    other = copy.deepcopy(model)
    config = TrainConfig(learning_rate=1e-2, max_grad_norm=1.0)
    one_batch = Trainer(model, config, tokenizer.pad_token_id)
    accumulated = Trainer(other, config, tokenizer.pad_token_id)
    for _ in range(2):  # the second step also compares the AdamW moments the first one left
        loss_big = one_batch.step([examples])
        loss_small = accumulated.step([examples[0:3], examples[3:5], examples[5:8]])
        assert loss_small == pytest.approx(loss_big, rel=1e-5)
    # AdamW divides by the gradient's running scale, so where a gradient is nearly zero float
    # rounding shows; 1e-5 is a thousandth of one step of size lr = 1e-2.
    start = _weights(AutoModelForCausalLM.from_pretrained(model.name_or_path))
    for big, small, before in zip(model.parameters(), other.parameters(), start, strict=True):
        torch.testing.assert_close(small - before, big - before, rtol=1e-3, atol=1e-5)
    assert any(not torch.equal(p.detach(), b) for p, b in zip(model.parameters(), start,
                                                               strict=True))


def test_gradient_checkpointing_gives_the_same_update(model_and_examples) -> None:
    model, tokenizer, examples = model_and_examples
    other = copy.deepcopy(model)
    plain = Trainer(model, TrainConfig(learning_rate=1e-2), tokenizer.pad_token_id)
    checkpointed = Trainer(
        other, TrainConfig(learning_rate=1e-2, gradient_checkpointing=True), tokenizer.pad_token_id
    )
    flag = getattr(type(other), "is_activation_checkpointing", None)
    assert (other.is_activation_checkpointing if flag is not None
            else other.is_gradient_checkpointing)
    assert plain.step([examples]) == pytest.approx(checkpointed.step([examples]), rel=1e-5)
    for a, b in zip(model.parameters(), other.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_the_loss_is_averaged_over_tokens_not_over_micro_batches(model_and_examples) -> None:
    """A long response weighs by its tokens, whichever micro-batch it lands in."""
    model, tokenizer, examples = model_and_examples
    trainer = Trainer(model, TrainConfig(learning_rate=1e-9), tokenizer.pad_token_id)
    from goldpan.train.losses import mean_loss

    expected = mean_loss(model, examples[:4], tokenizer.pad_token_id, batch_size=4)
    assert trainer.step([examples[:1], examples[1:4]]) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize(
    ("schedule", "step", "expected"),
    [
        ("constant", 0, 0.25),  # warm-up: (step + 1) / 4 warm-up steps
        ("constant", 3, 1.0),
        ("constant", 99, 1.0),
        ("linear", 4, 1.0),  # the full rate right after warm-up
        ("linear", 52, 0.5),  # half-way through the 96 decay steps
        ("linear", 99, 1 / 96),  # never zero at the last step
        ("cosine", 4, 1.0),
        ("cosine", 52, 0.5),
        ("cosine", 28, (1 + 0.5**0.5) / 2),  # a quarter of the way: (1 + cos(pi/4)) / 2
        ("wsd", 50, 1.0),  # stable until the last 10% of the steps
        ("wsd", 89, 1.0),
        ("wsd", 90, 1.0),  # the decay starts at 1 and falls linearly
        ("wsd", 95, 0.5),
        ("wsd", 99, 0.1),
    ],
)
def test_schedules_give_the_documented_rate(schedule: str, step: int, expected: float) -> None:
    config = TrainConfig(schedule=schedule, warmup_ratio=0.04, decay_ratio=0.1)
    assert lr_multiplier(step, 100, config) == pytest.approx(expected)


def test_the_floor_of_a_decay_is_min_lr_ratio() -> None:
    config = TrainConfig(schedule="cosine", min_lr_ratio=0.1)
    assert lr_multiplier(999, 1000, config) == pytest.approx(0.1, abs=1e-4)
    assert lr_multiplier(0, 1000, config) == pytest.approx(1.0)


def test_the_optimiser_follows_the_schedule_step_by_step(model_and_examples) -> None:
    model, tokenizer, examples = model_and_examples
    config = TrainConfig(learning_rate=0.1, schedule="linear", warmup_ratio=0.5, batch_size=2)
    rates: list[float] = []
    trainer = Trainer(model, config, tokenizer.pad_token_id,
                      on_step=lambda log: rates.append(log.learning_rate))
    trainer.fit(examples)  # 4 steps: warm-up 0.05, 0.1, then decay 0.1, 0.05
    assert rates == pytest.approx([0.05, 0.1, 0.1, 0.05])


def test_a_step_without_response_tokens_changes_nothing_and_stays_finite(
    model_and_examples,
) -> None:
    model, tokenizer, examples = model_and_examples
    trainer = Trainer(model, TrainConfig(learning_rate=1e-2), tokenizer.pad_token_id)
    trainer.step([examples[:2]])  # AdamW now has momentum that a bare step would apply
    before = _weights(model)
    prompt_only = Encoded(examples[0].input_ids, [IGNORE] * len(examples[0].input_ids))
    assert prompt_only.learned_tokens == 0
    assert trainer.step([[prompt_only], [prompt_only]]) is None
    assert trainer.skipped_steps == 1
    for live, kept in zip(model.parameters(), before, strict=True):
        assert torch.equal(live.detach(), kept)
        assert torch.isfinite(live).all()


def test_generation_after_training_runs_in_eval_mode(tiny_lm: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    config = LlamaConfig.from_pretrained(tiny_lm, attention_dropout=0.5)
    model = LlamaForCausalLM.from_pretrained(tiny_lm, config=config)
    Trainer(model, TrainConfig(), tokenizer.pad_token_id).step(
        [[encode_example(tokenizer, "Name a colour.", "Blue.", 64)]]
    )
    assert model.training  # as training left it
    modes: list[bool] = []
    hook = model.register_forward_pre_hook(lambda module, args: modes.append(module.training))
    llm = LLM(TransformersBackend.from_objects("student", model, tokenizer))
    params = GenerationParams(temperature=0.0, max_new_tokens=5, chat=False)
    first = llm.generate(["The river"], params)[0][0].text
    hook.remove()
    assert modes and not any(modes)  # dropout off for every forward pass of the generation
    assert model.training  # and the caller's mode is back afterwards
    model.eval()
    with torch.no_grad():
        ids = tokenizer("The river", return_tensors="pt")
        again = model.generate(**ids, max_new_tokens=5, do_sample=False,
                               pad_token_id=tokenizer.pad_token_id)
    expected = tokenizer.decode(again[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert first == expected


MEMORY_PROBE = """
import gc, json
from transformers import LlamaConfig, LlamaForCausalLM
from goldpan.train import release_memory

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024

config = LlamaConfig(vocab_size=32_000, hidden_size=512, intermediate_size=1024,
                     num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=8)
# Once first: what the first model costs once and for all (kernels, thread pools, allocator
# arenas) is not the model's memory, and must not count as memory kept after its release.
LlamaForCausalLM(config)  # built and dropped at once
release_memory()
baseline = rss()
model = LlamaForCausalLM(config)  # about 43 M parameters: 170 MB of float32
size = sum(p.numel() * p.element_size() for p in model.parameters())
loaded = rss()
del model
release_memory()
print(json.dumps({"size": size, "loaded": loaded - baseline, "released": rss() - baseline}))
"""


def test_a_released_model_gives_its_memory_back() -> None:
    """In a fresh process, so that memory freed by earlier tests does not hide the growth."""
    import json
    import os
    import subprocess
    import sys

    # A fixed mmap threshold: glibc then returns every tensor-sized block when it is freed,
    # instead of keeping some on its heap by its own dynamic rule, so what stays is what is
    # still referenced, which is what release_memory is about.
    environment = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    output = subprocess.run([sys.executable, "-c", MEMORY_PROBE], capture_output=True,
                            text=True, check=True, timeout=300, env=environment).stdout
    figures = json.loads(output.strip().splitlines()[-1])
    assert figures["loaded"] > 0.8 * figures["size"]
    assert figures["released"] < 0.2 * figures["size"]


def test_the_prompt_is_learned_only_when_asked(tiny_lm: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    answer_only = encode_example(tokenizer, "Name a colour.", "Blue.", 64)
    everything = encode_example(tokenizer, "Name a colour.", "Blue.", 64, loss_on_prompt=True)
    assert everything.input_ids == answer_only.input_ids
    assert everything.labels == everything.input_ids
    prompt = answer_only.labels.count(IGNORE)
    assert prompt > 0 and answer_only.labels[prompt:] == everything.labels[prompt:]
    assert everything.learned_tokens == len(everything.input_ids) - 1
    # Where the response starts is kept either way (a contrastive loss compares responses).
    assert answer_only.prompt_length == everything.prompt_length == prompt


@pytest.mark.parametrize("template", [False, True])
def test_training_and_generation_put_the_same_prompt_to_the_student(
    tiny_lm: Path, template: bool
) -> None:
    """A student is asked exactly what it was trained on, with or without a chat template
    (TinyLlama-style students have none: both sides then read the message and a newline)."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    if template:
        tokenizer.chat_template = (
            "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
            "{% if add_generation_prompt %}<|assistant|>{% endif %}"
        )
    model = AutoModelForCausalLM.from_pretrained(tiny_lm)
    encoded = encode_example(tokenizer, "Name a colour.", "Blue.", 64)
    trained_prompt = encoded.input_ids[: encoded.labels.index(next(
        label for label in encoded.labels if label != IGNORE))]
    backend = TransformersBackend.from_objects("student", model, tokenizer)
    rendered = backend.render("Name a colour.", GenerationParams(chat=True))
    asked = tokenizer(rendered, add_special_tokens=not template)["input_ids"]
    assert asked == trained_prompt
    assert rendered.endswith("\n") != template  # no template: the message, then a newline


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_a_lookahead_gives_the_weights_of_a_real_adamw_step_and_undoes_exactly(
    model_and_examples, weight_decay: float
) -> None:
    """After a warm-up (so AdamW has moments and a step count), a lookahead on one example
    writes the weights optimizer.step() would, leaves the optimiser's state alone, and its undo
    restores every weight bit for bit."""
    model, tokenizer, examples = model_and_examples
    config = TrainConfig(learning_rate=1e-3, batch_size=2, weight_decay=weight_decay)
    trainer = Trainer(model, config, tokenizer.pad_token_id)
    trainer.fit(examples[:4])
    warmed = _weights(model)
    state = copy.deepcopy(trainer.optimizer.state_dict())
    trainer.lookahead([[examples[5]]], keep_on="cpu")
    assert all(k.device.type == "cpu" for k in trainer._kept or [])
    previewed = _weights(model)
    trainer.undo_lookahead()
    assert all(torch.equal(a, b) for a, b in zip(_weights(model), warmed, strict=True))
    after = trainer.optimizer.state_dict()
    assert after["state"].keys() == state["state"].keys()
    for key, values in state["state"].items():
        assert all(torch.equal(values[k], after["state"][key][k]) for k in values)
    trainer.step([[examples[5]]])  # the real step, from the same state
    stepped = _weights(model)
    assert any(not torch.equal(a, b) for a, b in zip(previewed, warmed, strict=True))
    for a, b in zip(previewed, stepped, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9)


def test_master_weights_train_a_bf16_model_with_fp32_state(tiny_lm: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    model = AutoModelForCausalLM.from_pretrained(tiny_lm, dtype=torch.bfloat16)
    examples = [encode_example(tokenizer, i, r, 64) for i, r in PAIRS]
    trainer = Trainer(model, TrainConfig(learning_rate=1e-4, batch_size=4, master_weights=True),
                      tokenizer.pad_token_id)
    before = _weights(model)
    trainer.fit(examples)
    assert all(m.dtype == torch.float32 for m in trainer.master or [])
    moments = [s["exp_avg"] for s in trainer.optimizer.state.values()]
    assert moments and all(m.dtype == torch.float32 for m in moments)
    # The model's bf16 weights are the masters rounded: updates smaller than bf16's step
    # accumulate in the masters instead of being lost.
    for live, master in zip(trainer.parameters, trainer.master or [], strict=True):
        assert live.dtype == torch.bfloat16 and torch.equal(live, master.to(torch.bfloat16))
    assert any(not torch.equal(a, b) for a, b in zip(_weights(model), before, strict=True))
    trainer.lookahead([[examples[0]]])
    trainer.undo_lookahead()
    for live, master in zip(trainer.parameters, trainer.master or [], strict=True):
        assert torch.equal(live, master.to(torch.bfloat16))
