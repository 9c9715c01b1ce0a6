"""The repository layout the design card fixes."""

from conftest import REPO


def test_tokenizers_folder_is_not_a_package():
    # an __init__.py here would shadow Hugging Face's `tokenizers` package
    assert not (REPO / "tokenizers" / "__init__.py").exists()


def test_huggingface_tokenizers_is_the_one_imported():
    import tokenizers

    assert "site-packages" in (tokenizers.__file__ or "")


def test_artefact_folders_exist_with_readmes():
    for folder in ("checkpoints", "tokenizers"):
        assert (REPO / folder / "README.md").is_file()
    for path in ("train.py", "evaluate.py", "pyproject.toml", ".ci/run"):
        assert (REPO / path).is_file()


def test_no_script_folder_holds_a_tokenizers_module():
    # `python bench/x.py` puts bench/ first on sys.path: a bench/tokenizers.py would shadow HF's too
    for folder in (REPO, REPO / "bench", REPO / "tests"):
        assert not (folder / "tokenizers.py").exists(), folder
