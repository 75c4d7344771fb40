"""The SigLIP2 text tower in numpy: token + position embeddings, encoder, final LayerNorm, last-token pooling, head.

Mirrors `siglip2_min/text.py` function for function (TextEmbeddings, TextTransformer).
Paper: SigLIP (arXiv 2303.15343) section 4 and SigLIP2 (arXiv 2502.14786) section 2. Upstream: big_vision
`models/proj/image_text/text_transformer.py`, HF `modeling_siglip.py` (SiglipTextEmbeddings,
SiglipTextTransformer).

Letters (docs/model/index.md): T texts, L tokens per text (64), D text width, E embedding width (the head's output).
"""

from .layers import encoder, layer_norm, linear


def text_embeddings(input_ids, token_embedding, position_embedding):
    L = input_ids.shape[1]
    tokens = token_embedding["weight"][input_ids]  # [T, L] -> [T, L, D]
    return tokens + position_embedding["weight"][:L]  # [T, L, D] + [L, D] -> [T, L, D]


def text_transformer(input_ids, params, config):
    """Token ids -> pooled text embedding [T, E] (before normalisation) and the named intermediates.

    `params` is the checkpoint's `text_model` subtree. No attention mask: padding tokens are attended to, and the
    model pools the LAST position even when it is padding; that is how the checkpoints were trained (docs/tokenizer-contract.md), so texts are padded to exactly 64 tokens as in training.
    """
    out = {}
    x = text_embeddings(input_ids, **params["embeddings"])  # [T, L, D]
    out["text.embeddings"] = x
    x, hidden = encoder(x, params["encoder"]["layers"], config["num_heads"], config["eps"])  # [T, L, D] no mask
    out.update({f"text.block{i:02d}": h for i, h in enumerate(hidden)})
    x = layer_norm(x, **params["final_layer_norm"], eps=config["eps"])  # [T, L, D]
    out["text.final_layer_norm"] = x
    pooled = linear(x[:, -1], **params["head"])  # [T, L, D] -> [T, D] at the last position -> [T, E]
    out["text.pooled"] = pooled
    return pooled, out

