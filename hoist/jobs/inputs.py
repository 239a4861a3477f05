"""What a training job reads, named as prefixes of the stack's buckets and checked before it is sent.

A base checkpoint to fine-tune is a prefix under ``base/`` of the models bucket (the only part the
training roles may read there); token shards are a prefix of the datasets bucket.
"""

from __future__ import annotations

from dataclasses import dataclass

from hoist.outputs import StackOutputs
from infra.components.iam import BASE_MODEL_PREFIX
from infra.fields import is_s3_prefix
from infra.stack_files import ConfigError


@dataclass(frozen=True)
class JobInputs:
    base_model: str | None = None
    """``base/<name>/`` in the models bucket."""
    data: str | None = None
    """A prefix of the datasets bucket holding prepared shards."""

    def check(self) -> JobInputs:
        if self.base_model is not None and (not is_s3_prefix(self.base_model)
                                            or not self.base_model.startswith(BASE_MODEL_PREFIX)):
            raise ConfigError(f"--base-model {self.base_model!r}: a prefix under {BASE_MODEL_PREFIX} of the stack's "
                              f"models bucket, like {BASE_MODEL_PREFIX}llama-3.2-1b/ (upload the checkpoint there)")
        if self.data is not None and not is_s3_prefix(self.data):
            raise ConfigError(f"--data {self.data!r}: a prefix of the datasets bucket, like prepared/corpus-v1/")
        if self.base_model is not None and self.data is None:
            raise ConfigError("--base-model: fine-tuning needs --data (shards prepared with the model's tokenizer)")
        return self

    def base_model_uri(self, outputs: StackOutputs) -> str | None:
        return outputs.bucket_uri("models", self.base_model) if self.base_model else None

    def data_uri(self, outputs: StackOutputs) -> str | None:
        return outputs.bucket_uri("datasets", self.data) if self.data else None
