"""Errors a user can act on. The command-line entry points print them without a
traceback and exit non-zero; every message names the file or key and the fix."""


class GenrecError(Exception):
    """Base class for errors caused by input (config, data, artefacts)."""


class ConfigError(GenrecError):
    """An unknown key, a wrong type or an unknown name in a config."""


class DataError(GenrecError):
    """A missing or malformed dataset file."""


class ArtefactError(GenrecError):
    """A checkpoint or tokenizer artefact that is missing or does not match."""


class Interrupted(GenrecError):
    """Training stopped on Ctrl-C with a resumable checkpoint (exit code 130, the shell's for SIGINT)."""

    exit_code = 130
