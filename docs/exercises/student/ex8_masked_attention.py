"""Exercise 8: multi-head attention with a key mask (docs/exercises/ex8_masked_attention.md).

Check your solution with:  pytest docs/exercises/checks/test_ex8_masked_attention.py
"""

import torch


def attention(q, k, v, num_heads, key_mask=None):
    """softmax(q_h k_h^T / sqrt(Dh) + mask) v_h for every head h, on already projected inputs.

    Args:
        q: [B, M, D] queries (M = N in the encoder, M = 1 for the pooling probe).
        k, v: [B, N, D] keys and values.
        num_heads: H; head h reads the channels h*Dh .. (h+1)*Dh - 1, with Dh = D / H.
        key_mask: [B, N] bool, True for keys that may be attended to (real patches), False for padding;
            None: every key is valid.

    Returns:
        [B, M, D]: the heads' outputs concatenated back in channel order (no output projection).
        A masked key must have no influence at all on the result.
    """
    raise NotImplementedError("write attention")
