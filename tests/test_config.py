"""Config composition: layers, experiments, and clear rejection of bad keys and types."""

import subprocess
import sys

import pytest
from conftest import REPO

from genrec.config import compose, load_saved, to_dict, to_yaml
from genrec.errors import ConfigError


def test_layers_and_overrides():
    cfg = compose(["experiment=sasrec_bce_beauty", "trainer.max_epochs=3", "generator.hidden_size=32"])
    assert cfg.data.dataset == "beauty" and cfg.data.loader == "amazon_p5"
    assert cfg.generator.loss == "bce" and cfg.generator.hidden_size == 32
    assert cfg.trainer.max_epochs == 3 and cfg.data.max_history == 50
    assert cfg.run == "sasrec_bce_beauty"


def test_group_choice_on_command_line_beats_experiment():
    cfg = compose(["experiment=sasrec_bce_beauty", "data=toys"])
    assert cfg.data.dataset == "toys" and cfg.generator.loss == "bce"


def test_default_run_name_without_experiment():
    cfg = compose(["experiment=", "data=toys"])
    assert cfg.run == "sasrec-toys"


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError) as err:
        compose(["experiment=sasrec_ml100k", "generator.hiden_size=3"])
    assert "hiden_size" in str(err.value) and "hidden_size" in str(err.value)


def test_wrong_type_is_rejected():
    with pytest.raises(ConfigError, match="max_epochs"):
        compose(["trainer.max_epochs=lots"])


def test_llm_experiments_clip_gradients_and_fsdp_asks_to_turn_it_off():
    """LC-Rec's Hugging Face Trainer clips at norm 1.0; Lightning cannot clip by norm under FSDP,
    so that combination stops at composition with the fix, not at the first optimiser step."""
    assert compose(["experiment=lcrec_beauty"]).trainer.gradient_clip_val == 1.0
    with pytest.raises(ConfigError, match="trainer.gradient_clip_val=null"):
        compose(["experiment=lcrec_beauty", "trainer.strategy=fsdp"])
    assert compose(["experiment=lcrec_beauty", "trainer.strategy=fsdp", "trainer.gradient_clip_val=null"])


def test_new_item_code_rule_is_checked_at_composition():
    assert compose(["experiment=store_ml100k"]).tokenizer.new_item_codes == "open"
    with pytest.raises(ConfigError, match=r"tokenizer.new_item_codes='near': must be one of \['open', 'seen_prefix'\]"):
        compose(["experiment=store_ml100k", "tokenizer.new_item_codes=near"])


def test_unknown_group_file_lists_choices():
    with pytest.raises(ConfigError, match="beauty"):
        compose(["data=beautyy"])


def test_implementation_key_cannot_be_overridden():
    with pytest.raises(ConfigError, match="choose another file"):
        compose(["data.loader=lcrec"])


def test_saved_config_round_trips(tmp_path):
    cfg = compose(["experiment=sasrec_ce_toys"])
    path = tmp_path / "config.yaml"
    path.write_text(to_yaml(cfg))
    again = load_saved(path, ["trainer.eval_batch_size=7"])
    assert again.generator.loss == "ce" and again.trainer.eval_batch_size == 7
    with pytest.raises(ConfigError):
        load_saved(path, ["trainer.nope=1"])


@pytest.mark.parametrize("experiment", sorted(p.stem for p in (REPO / "configs" / "experiment").glob("*.yaml")))
def test_every_experiment_reloads_from_its_saved_config(tmp_path, experiment):
    """What evaluate.py and recommend read back: a STORE run's saved config once failed to load
    (its tokenizer.quantiser_options keys were refused), so no STORE or LAMIA run could be re-evaluated."""
    cfg = compose([f"experiment={experiment}"])
    path = tmp_path / "config.yaml"
    path.write_text(to_yaml(cfg))
    assert to_dict(load_saved(path)) == to_dict(cfg)


def test_quantiser_options_take_the_quantisers_own_keys_and_typed_dicts_stay_strict():
    cfg = compose(["experiment=store_ml100k", "tokenizer.quantiser_options.pca_dims=32"])
    assert dict(cfg.tokenizer.quantiser_options) == {"kmeans_iters": 50, "kmeans_init": "kmeans++", "pca_dims": 32}
    with pytest.raises(ConfigError, match="generator.task_caps.nope"):
        compose(["experiment=lcrec_ml100k", "generator.task_caps.nope=3"])


def test_cli_exits_non_zero_with_a_message(tmp_path):
    result = subprocess.run([sys.executable, "train.py", "trainer.max_epoch=1"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "max_epoch" in result.stderr and "max_epochs" in result.stderr and "Traceback" not in result.stderr


def test_unknown_group_in_an_experiment_is_rejected(tmp_path, monkeypatch):
    import genrec.config as config

    for group in ("data", "tokenizer", "generator", "trainer"):
        (tmp_path / group).symlink_to(config.CONFIG_DIR / group)
    (tmp_path / "experiment").mkdir()
    (tmp_path / "defaults.yaml").write_text((config.CONFIG_DIR / "defaults.yaml").read_text())
    (tmp_path / "experiment" / "typo.yaml").write_text("defaults:\n  generater: sasrec\n")
    monkeypatch.setattr(config, "CONFIG_DIR", tmp_path)
    with pytest.raises(ConfigError, match="generater"):
        compose(["experiment=typo"])
