"""Shared pytest fixtures: random-weight HF checkpoints saved to temp dirs (see hf_fixtures.py)."""

import pytest
import torch

import hf_fixtures


def _saved(build, name, tmp_path_factory):
    """(folder, hf_model): an HF model built by `build()` and written with `save_pretrained`."""
    model = build()
    folder = tmp_path_factory.mktemp(name)
    model.save_pretrained(folder)
    return folder, model


@pytest.fixture(scope="session")
def naflex_checkpoint(tmp_path_factory):
    """A random NaFlex `Siglip2Model`."""
    return _saved(hf_fixtures.hf_naflex_model, "naflex", tmp_path_factory)


@pytest.fixture(scope="session")
def fixres_checkpoint(tmp_path_factory):
    """A random FixRes `SiglipModel`."""
    return _saved(hf_fixtures.hf_fixres_model, "fixres", tmp_path_factory)


@pytest.fixture(scope="session")
def classifier_checkpoint(tmp_path_factory):
    """A random `Siglip2ForImageClassification`."""
    return _saved(hf_fixtures.hf_classifier_model, "classifier", tmp_path_factory)


def pytest_configure(config):
    # Parity tests compare float results; pin the thread count so timings and reductions are repeatable.
    torch.set_num_threads(min(2, torch.get_num_threads()))
