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
