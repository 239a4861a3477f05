"""The Hugging Face LLM path beside the reference model: base checkpoints, chat data, fine-tuning
(full or LoRA under FSDP2) and the LLM artifact that the serving engine loads."""

import os

from transformers.utils import logging

# Nothing is ever fetched from a model hub at run time: every checkpoint is a local directory or a
# copy of an s3:// prefix. Progress bars would only fill job logs.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
logging.disable_progress_bar()  # type: ignore[no-untyped-call]
