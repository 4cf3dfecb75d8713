"""Plot mistakes get a ToolkitError naming the column and the frame that fits; empty frames say "no data"."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from toolkit import load, plot
from toolkit.client.model import ToolkitError


def _texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_gallery_of_an_images_table_names_the_missing_column_and_the_frame_that_fits(camera):
    images = load.images_table(camera["batch"])
    with pytest.raises(KeyError) as err:
        plot.gallery(images)
    assert isinstance(err.value, ToolkitError)
    text = str(err.value)
    assert "no column 'score'" in text and "load.detections" in text and "file" in text


def test_counts_by_a_typo_suggests_the_column(camera):
    with pytest.raises(KeyError) as err:
        plot.counts(camera["det"], by="lable")
    assert isinstance(err.value, ToolkitError) and "did you mean 'label'?" in str(err.value)


@pytest.mark.parametrize("by", ["label", "hour"])
def test_counts_of_an_empty_frame_says_no_data(camera, by):
    ax = plot.counts(camera["det"].iloc[0:0], by=by)
    assert any(t.startswith("no data") for t in _texts(ax)) and not ax.patches
    plt.close(ax.figure)


def test_score_histogram_of_an_empty_frame_says_no_data(camera):
    ax = plot.score_histogram(camera["det"].iloc[0:0], threshold=0.3)
    assert any(t.startswith("no data") for t in _texts(ax))
    plt.close(ax.figure)
