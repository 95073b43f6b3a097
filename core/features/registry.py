"""The Streamlit app's pages, in one list: the navigation's links, and the pages the tests and ``tools.browser`` open.

Adding a page is its file under ``pages/`` and one ``Page`` here: ``pages.widgets`` draws the links from this list,
``tests/test_public_mode.py`` runs every page, ``tests/test_browser.py`` and ``tools/browser.py`` (with
``tools/bench_app.py``) open each one and wait for its ``first_view`` text, and ``tests/test_layout.py`` checks that
every page file has exactly one entry. Plain data: importing it imports neither Streamlit nor torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath


@dataclass(frozen=True)
class Page:
    file: str  # relative to the repository root: "app.py" (Home) or "pages/<n>_<Name>.py"
    label: str  # its link in the navigation
    icon: str  # the link's icon
    first_view: str  # text on screen once the page's first view is drawn (any model with a z/s split)
    picture: bool = True  # the first view shows a picture
    drgan_view: str | None = None  # the text instead when the model is a DR-GAN (None: first_view)

    @property
    def url_path(self) -> str:
        """Its address under the app's URL, as Streamlit derives it: "" for Home, "Draw_a_digit" for
        ``pages/10_Draw_a_digit.py`` (the leading number and separators dropped)."""
        if self.file == "app.py":
            return ""
        return re.fullmatch(r"[0-9]*[_ -]*(.*)\.py", PurePosixPath(self.file).name).group(1)


SPLIT_ONLY = "This page works on a z/s split"  # what a page that needs a z/s split says to a DR-GAN model

PAGES = (  # in the navigation's order
    Page("app.py", "Home", ":material/home:", "Reconstructions", drgan_view=SPLIT_ONLY),
    Page("pages/1_Swap_grid.py", "Swap grid", ":material/grid_on:", "Top row: s sources", drgan_view="Left column: inputs"),
    Page("pages/2_Interpolation.py", "Interpolation", ":material/linear_scale:", "2-D grid", drgan_view=SPLIT_ONLY),
    Page("pages/3_Latent_sliders.py", "Latent sliders", ":material/tune:", "Dec(z from the sliders", drgan_view=SPLIT_ONLY),
    Page("pages/4_Random_sampling.py", "Random sampling", ":material/casino:", "Rows: ", drgan_view=SPLIT_ONLY),
    Page("pages/5_Latent_map.py", "Latent map", ":material/scatter_plot:", "Silhouette of s by label", drgan_view=SPLIT_ONLY),
    Page("pages/6_Metrics.py", "Metrics", ":material/table_chart:", "this checkpoint", picture=False,
         drgan_view="Table 4.1 protocol"),
    Page("pages/7_Few_shot.py", "Few-shot", ":material/person_add:", "Upload 1 to 10 photos", drgan_view=SPLIT_ONLY),
    Page("pages/11_Expressions.py", "Expressions", ":material/mood:", "expression model", picture=False),
    Page("pages/10_Draw_a_digit.py", "Draw a digit", ":material/draw:", "Draw one digit, large", picture=False),
    Page("pages/8_Train_live.py", "Train live", ":material/model_training:", "Choose the settings and press Start",
         picture=False),
    Page("pages/9_Compare.py", "Compare", ":material/compare:", "Models (at most", picture=False),
)


def page(url_path: str) -> Page:
    """The page at ``url_path`` ("" for Home); ``KeyError`` for none."""
    for p in PAGES:
        if p.url_path == url_path:
            return p
    raise KeyError(f"no page at /{url_path}; pages: {', '.join(p.url_path or '(Home)' for p in PAGES)}")
