"""Prompt templates and class-name canonicalisation: the zero-shot protocol behind published numbers.

The SigLIP and SigLIP2 papers report zero-shot accuracy from big_vision's evaluator
(`big_vision/evaluators/proj/image_text/discriminative_classifier.py`), whose defaults are
`prompt_templates="clip_paper"` and `canonicalize=True`. For each class it embeds the class name in every
template, averages the (unit-length) text embeddings and renormalises the mean (`_average_embeddings`); the image
is then given the class with the highest cosine. `api.zero_shot(..., templates=...)` does the same.

Canonicalisation, as `big_vision/evaluators/proj/image_text/prompt_engineering.py` (`_canonicalize`,
`get_class_names`, `get_prompt_templates`) does it, applied to class names and to templates alike:
1. `_` becomes a space;
2. every ASCII punctuation character (Python's `string.punctuation`) is removed, except one exact string that is
   kept: `,` in class names (it separates aliases), `{}` in templates (the slot; a lone `{` or `}` is removed);
3. lowercase; runs of whitespace become one space; leading and trailing spaces go;
4. class names: only the first alias is used (the evaluator's `first_class_name_only=True`): "tench, tinca" -> "tench".
So "This is a photo of {}." becomes "this is a photo of {}", "Close-up" "closeup", "t-shirt" "tshirt". The
lowercasing alone changes nothing for SigLIP2 (its tokenizer lowercases, docs/tokenizer-contract.md); removing the
final full stop and the hyphens does change the tokens, and so the scores.
"""

import re
import string

# The CLIP paper's 80 ImageNet templates plus the bare class name (81 in all), in big_vision's order
# (`prompt_engineering_constants.CLIP_PAPER_PROMPT_TEMPLATES`, from OpenAI's CLIP ImageNet notebook).
CLIP_PAPER = [
    "a bad photo of a {}.", "a photo of many {}.", "a sculpture of a {}.", "a photo of the hard to see {}.",
    "a low resolution photo of the {}.", "a rendering of a {}.", "graffiti of a {}.", "a bad photo of the {}.",
    "a cropped photo of the {}.", "a tattoo of a {}.", "the embroidered {}.", "a photo of a hard to see {}.",
    "a bright photo of a {}.", "a photo of a clean {}.", "a photo of a dirty {}.", "a dark photo of the {}.",
    "a drawing of a {}.", "a photo of my {}.", "the plastic {}.", "a photo of the cool {}.",
    "a close-up photo of a {}.", "a black and white photo of the {}.", "a painting of the {}.",
    "a painting of a {}.", "a pixelated photo of the {}.", "a sculpture of the {}.", "a bright photo of the {}.",
    "a cropped photo of a {}.", "a plastic {}.", "a photo of the dirty {}.", "a jpeg corrupted photo of a {}.",
    "a blurry photo of the {}.", "a photo of the {}.", "a good photo of the {}.", "a rendering of the {}.",
    "a {} in a video game.", "a photo of one {}.", "a doodle of a {}.", "a close-up photo of the {}.",
    "a photo of a {}.", "the origami {}.", "the {} in a video game.", "a sketch of a {}.", "a doodle of the {}.",
    "a origami {}.", "a low resolution photo of a {}.", "the toy {}.", "a rendition of the {}.",
    "a photo of the clean {}.", "a photo of a large {}.", "a rendition of a {}.", "a photo of a nice {}.",
    "a photo of a weird {}.", "a blurry photo of a {}.", "a cartoon {}.", "art of a {}.", "a sketch of the {}.",
    "a embroidered {}.", "a pixelated photo of a {}.", "itap of the {}.", "a jpeg corrupted photo of the {}.",
    "a good photo of a {}.", "a plushie {}.", "a photo of the nice {}.", "a photo of the small {}.",
    "a photo of the weird {}.", "the cartoon {}.", "art of the {}.", "a drawing of the {}.",
    "a photo of the large {}.", "a black and white photo of a {}.", "the plushie {}.", "a dark photo of a {}.",
    "itap of a {}.", "graffiti of the {}.", "a toy {}.", "itap of my {}.", "a photo of a cool {}.",
    "a photo of a small {}.", "a tattoo of the {}.", "{}",
]  # fmt: skip

# Named sets, under big_vision's names. "clip_paper" is its evaluator's default, the protocol of the papers.
TEMPLATE_SETS = {
    "clip_paper": CLIP_PAPER,
    "clip_best": ["itap of a {}.", "a bad photo of the {}.", "a origami {}.", "a photo of the large {}.",
                  "a {} in a video game.", "art of the {}.", "a photo of the small {}.", "{}"],
    "class_name_only": ["{}"],
}  # fmt: skip


def canonicalize(text, keep=None):
    """`text` with `_` as a space, punctuation removed except the exact string `keep`, lowercased, spaces collapsed."""
    text = text.replace("_", " ")
    drop = str.maketrans("", "", string.punctuation)
    parts = text.split(keep) if keep else [text]
    text = (keep or "").join(part.translate(drop) for part in parts)
    return re.sub(r"\s+", " ", text.lower()).strip()


def canonical_label(label):
    """A class name as big_vision's evaluator uses it: canonicalised, first alias only ("Tench, Tinca" -> "tench")."""
    return canonicalize(label, keep=",").split(",")[0].strip()


def canonical_template(template):
    """A template canonicalised around its slot ("This is a photo of {label}." -> "this is a photo of {}")."""
    return canonicalize(template.replace("{label}", "{}"), keep="{}")


def resolve_templates(templates):
    """A list of template strings from a set name ("clip_paper"), or a list of templates and set names."""
    if isinstance(templates, str):
        templates = [templates]
    try:
        templates = list(templates)
    except TypeError:
        raise TypeError(f"templates must be a list of strings or a set name, got {type(templates).__name__}") from None
    if not templates:
        raise ValueError(f"templates must not be empty; give at least one, or a set name: {sorted(TEMPLATE_SETS)}")
    out = []
    for template in templates:
        if not isinstance(template, str):
            raise TypeError(f"each template must be a string, got {type(template).__name__}: {template!r}")
        out += TEMPLATE_SETS.get(template, [template])
    return out
