"""genrec.quiet: what genrec does on purpose is not announced; what a user should act on still is."""

import logging

import pytest

from genrec.quiet import quiet_libraries

transformers = pytest.importorskip("transformers")


class Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def resize_notices(collect: Collect) -> list[str]:
    """What transformers says while a fresh tiny Llama grows its vocabulary by mean resizing."""
    collect.messages.clear()
    logging.Logger.warning_once.cache_clear()  # transformers says each notice once a process: say it again here
    config = transformers.LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                      num_attention_heads=2, num_key_value_heads=2, tie_word_embeddings=False)
    transformers.LlamaForCausalLM(config).resize_token_embeddings(80, mean_resizing=True)
    return [m for m in collect.messages if "multivariate normal" in m]


def test_mean_resizing_of_code_tokens_is_not_announced_but_other_warnings_are():
    root, collect = logging.getLogger("transformers"), Collect()
    logger = logging.getLogger("transformers.modeling_utils")
    kept = list(logger.filters)
    root.addHandler(collect)
    try:
        logger.filters = []
        assert len(resize_notices(collect)) == 2  # embeddings and lm_head: announced without genrec.quiet
        quiet_libraries()
        quiet_libraries()  # twice: one filter, not two
        assert len(logger.filters) == 1
        assert resize_notices(collect) == []
        logger.warning("a warning about the user's own setup")
        assert collect.messages[-1] == "a warning about the user's own setup"
    finally:
        root.removeHandler(collect)
        logger.filters = kept
