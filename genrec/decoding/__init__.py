"""Constrained beam search over item codes, shared by every generator."""

from genrec.decoding.beam_search import BeamSearchResult, DecodingError, constrained_beam_search
from genrec.decoding.trie import CodeTrie

__all__ = ["BeamSearchResult", "CodeTrie", "DecodingError", "constrained_beam_search"]
