"""The text tower: token + position embeddings, encoder without a mask, final LayerNorm, last-token pooling, head.

Upstream: HF `modeling_siglip.py` (`SiglipTextEmbeddings`, `SiglipTextTransformer`); big_vision
`models/proj/image_text/text_transformer.py`. Differences to CLIP's text tower, where they bite:
- No attention mask at all, not even a causal one: every token sees every other, padding included.
- The pooled output is the hidden state at the LAST position (index 63), which is padding for any short text.
  The model was trained that way (HF issue #39269: intended), so inputs must be padded to exactly 64 tokens:
  `padding=True` (pad to the longest) ruins zero-shot accuracy, and so does any other length.
- A `head` Linear maps the pooled state to the embedding space (projection_size; differs from the width only
  for giant-opt).

Shapes: T = texts, L = 64 tokens, D = text width, E = projection_size.
"""

from torch import nn

from .layers import Encoder


class TextEmbeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.token_embedding = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position_embedding = nn.Embedding(config.max_position_embeddings, config.hidden_size)

    def forward(self, input_ids):
        # [T, L] -> [T, L, D] plus [L, D] broadcast over texts
        return self.token_embedding(input_ids) + self.position_embedding.weight[: input_ids.shape[1]]


class TextTransformer(nn.Module):
    def __init__(self, config, attn="sdpa"):
        super().__init__()
        self.config = config
        self.embeddings = TextEmbeddings(config)
        self.encoder = Encoder(config, attn)
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.head = nn.Linear(config.hidden_size, config.projection_size)

    def forward(self, input_ids, intermediates=None):
        """The pooled text embedding [T, E] (before L2 normalisation) of ids [T, L] (`checks.check_text_inputs`)."""
        x = self.embeddings(input_ids)  # [T, L, D]
        if intermediates is not None:
            intermediates["text.embeddings"] = x
        x = self.encoder(x, None, intermediates, "text")  # [T, L, D], no mask (see the module docstring)
        x = self.final_layer_norm(x)  # [T, L, D]
        pooled = self.head(x[:, -1])  # [T, D] at the last position -> [T, E]
        if intermediates is not None:
            intermediates["text.final_layer_norm"] = x
            intermediates["text.pooled"] = pooled
        return pooled

