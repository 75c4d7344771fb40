"""Shared pytest fixtures: random-weight HF checkpoints saved to temp dirs (see hf_fixtures.py)."""

import pytest
import torch

import hf_fixtures


@pytest.fixture(scope="session")
def naflex_checkpoint(tmp_path_factory):
    """(folder, hf_model): a random NaFlex `Siglip2Model` saved with `save_pretrained`."""
    model = hf_fixtures.hf_naflex_model()
    folder = tmp_path_factory.mktemp("naflex")
    model.save_pretrained(folder)
    return folder, model


@pytest.fixture(scope="session")
def fixres_checkpoint(tmp_path_factory):
    """(folder, hf_model): a random FixRes `SiglipModel` saved with `save_pretrained`."""
    model = hf_fixtures.hf_fixres_model()
    folder = tmp_path_factory.mktemp("fixres")
    model.save_pretrained(folder)
    return folder, model


@pytest.fixture(scope="session")
def classifier_checkpoint(tmp_path_factory):
    """(folder, hf_model): a random `Siglip2ForImageClassification` saved with `save_pretrained`."""
    model = hf_fixtures.hf_classifier_model()
    folder = tmp_path_factory.mktemp("classifier")
    model.save_pretrained(folder)
    return folder, model


def pytest_configure(config):
    # Parity tests compare float results; pin the thread count so timings and reductions are repeatable.
    torch.set_num_threads(min(2, torch.get_num_threads()))
