"""Sphinx configuration of the awiml documentation.

Build it offline with ``make docs`` (``sphinx-build -W --keep-going -b html
docs docs/_build/html``); any warning fails the build.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import awiml

DOCS = Path(__file__).resolve().parent

# -- Project ---------------------------------------------------------------

project = "awiml"
author = "awiml developers"
copyright = "awiml developers, GPL-3.0-or-later"
release = awiml.__version__
version = ".".join(release.split(".")[:2])

# -- General ---------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.graphviz",
    "numpydoc",
    "myst_nb",  # MyST Markdown pages, and the tutorial notebooks executed at build time
    "sphinx_design",
    "matplotlib.sphinxext.plot_directive",
]
# No sphinx.ext.intersphinx: the documentation builds without network access.

# .rst first: autosummary writes its stub pages with the first suffix.
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]
nitpicky = False
language = "en"

# -- MyST (Markdown pages) ------------------------------------------------

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- Tutorials (myst-nb) ---------------------------------------------------

# The notebooks live in notebooks/ without outputs; every build copies them to
# docs/tutorials/ (git-ignored) and runs them, so the site shows real outputs.
for _notebook in sorted((DOCS.parent / "notebooks").glob("*.ipynb")):
    _target = DOCS / "tutorials" / _notebook.name
    if not _target.exists() or _target.read_bytes() != _notebook.read_bytes():
        _target.parent.mkdir(exist_ok=True)
        shutil.copyfile(_notebook, _target)
# The kernels inherit this process's environment. `make` exports MPLBACKEND=Agg,
# under which plt.show() draws nothing: leave the kernels Jupyter's inline
# backend, so the notebooks' figures land on the pages. (The plot directive
# below sets Agg for itself.)
os.environ.pop("MPLBACKEND", None)
# AWIML_DOCS_EXECUTE=off skips running them, for a quick look at prose changes.
nb_execution_mode = os.environ.get("AWIML_DOCS_EXECUTE", "force")
nb_execution_timeout = 300
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

# -- Pictures -------------------------------------------------------------

# ```{plot}``` blocks run at build time and show the figure with its code.
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 110)]
plot_rcparams = {"figure.figsize": (7.0, 4.0), "savefig.bbox": "tight"}
graphviz_output_format = "svg"

# -- autodoc / autosummary -----------------------------------------------

# Stub pages are written to docs/api/generated/ (git-ignored) at every build.
autosummary_generate = True
autosummary_imported_members = False
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
autodoc_member_order = "bysource"
# Document only what awiml itself says: ArchiveFileSystem's read-only stand-ins
# for fsspec's write methods would otherwise show fsspec's docstrings.
autodoc_inherit_docstrings = False
# scikit-learn gives every estimator methods for metadata routing and output
# containers. They are scikit-learn's, not awiml's, and their docstrings link
# into scikit-learn's glossary and user guide (":term:`meta-estimator`",
# ":ref:`metadata_routing`"), which cannot resolve without intersphinx and would
# fail the -W build. Leave them out of every class page.
_SKLEARN_METHODS = (
    "set_output",
    "set_fit_request",
    "set_partial_fit_request",
    "set_predict_request",
    "set_predict_proba_request",
    "set_predict_log_proba_request",
    "set_decision_function_request",
    "set_score_request",
    "set_transform_request",
    "set_inverse_transform_request",
    "set_split_request",
    "get_metadata_routing",
)
autodoc_default_options = {"exclude-members": ", ".join(_SKLEARN_METHODS)}

# -- numpydoc --------------------------------------------------------------

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = True
numpydoc_xref_aliases = {
    # numpydoc's defaults point these into the Python and NumPy docs through
    # intersphinx, which is off: its ":ref:"/":term:" links would warn, and its
    # "python:str" targets would show the prefix. Link them as plain objects.
    "None": "None",
    "True": "True",
    "False": "False",
    "bool": "bool",
    "boolean": "bool",
    "int": "int",
    "float": "float",
    "str": "str",
    "string": "str",
    "list": "list",
    "tuple": "tuple",
    "dict": "dict",
    "callable": "callable",
    "contextmanager": "contextlib.contextmanager",
    "namedtuple": "collections.namedtuple",
    "iterable": "collections.abc.Iterable",
    "sequence": "collections.abc.Sequence",
    "generator": "collections.abc.Generator",
    "array-like": "numpy.typing.ArrayLike",
    "array_like": "numpy.typing.ArrayLike",
    "scalar": "numpy.generic",
    # awiml's own classes, by their short names in docstrings.
    "Workspace": "awiml.Workspace",
    "VerifyReport": "awiml.workspace.VerifyReport",
    "FetchError": "awiml.workspace.FetchError",
    "ManifestEntry": "awiml.workspace.manifest.ManifestEntry",
    "RetryPolicy": "awiml.archives.transfer.RetryPolicy",
    "DownloadResult": "awiml.archives.transfer.DownloadResult",
    "RemoteFile": "awiml.archives.base.RemoteFile",
    "ArchiveFileSystem": "awiml.archives.base.ArchiveFileSystem",
    "FileServer": "awiml.testing.FileServer",
    "Fault": "awiml.testing.Fault",
    "Response": "awiml.testing.Response",
    "RequestRecord": "awiml.testing.RequestRecord",
}
# Words in type descriptions that are prose, not names to link.
numpydoc_xref_ignore = {
    "of",
    "or",
    "to",
    "and",
    "optional",
    "default",
    "path-like",
    "mapping",
    "them",
}

# -- HTML ------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"awiml {release}"
html_short_title = "awiml"
html_static_path = ["_static"]
html_css_files = ["awiml.css"]
html_theme_options = {
    # No logo image: the title is the project's name.
    "logo": {"text": "awiml"},
    "navbar_align": "left",
    # The top bar lists the sections in the order of the landing page's toctree;
    # the first seven (through API reference and Explanation) stay visible, the
    # rest go under "More".
    "header_links_before_dropdown": 7,
    "navigation_with_keys": False,
    # The left sidebar shows the current section's tree, two levels open.
    "show_nav_level": 2,
    "navigation_depth": 3,
    "collapse_navigation": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
# The landing page has no sidebar. Every other page shows its section's tree;
# a page without a section of its own (Install, Quick start, Changelog, search)
# shows the site's tree instead (docs/_templates/section-nav.html).
html_sidebars = {
    "index": [],
    "**": ["section-nav"],
}
html_show_sourcelink = False
# Light or dark as the reader's system says; left unset, the theme's script
# logs a console error on the first page.
html_context = {"default_mode": "auto"}
