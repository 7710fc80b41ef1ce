"""The training core every method uses: examples with response-only loss, one trainer with
AdamW, schedules, accumulation, clipping and precision, LoRA through PEFT, DPO through TRL, the
scorer LMs, and memory given back between phases."""

from goldpan.models.memory import evaluating, release_memory
from goldpan.train.config import TrainConfig
from goldpan.train.examples import IGNORE, Encoded, batch_order, collate, encode_example, pad_id
from goldpan.train.lora import LoraConfig, add_lora
from goldpan.train.losses import example_losses, mean_loss, response_loss_sum
from goldpan.train.progress import StepLog, phase_steps
from goldpan.train.schedules import lr_multiplier, make_scheduler
from goldpan.train.trainer import Trainer

__all__ = [
    "IGNORE",
    "Encoded",
    "LoraConfig",
    "StepLog",
    "TrainConfig",
    "Trainer",
    "add_lora",
    "batch_order",
    "collate",
    "encode_example",
    "evaluating",
    "example_losses",
    "lr_multiplier",
    "make_scheduler",
    "mean_loss",
    "pad_id",
    "phase_steps",
    "release_memory",
    "response_loss_sum",
]
