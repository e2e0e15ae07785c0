"""One vocabulary: a setting has the same name as flag, TOML key, sidecar key and dataclass field; one default."""

import argparse
import re
from pathlib import Path

import pytest

from ketamine_fc.cli.parser import build_parser, flags_of, options_markdown, parse_args
from ketamine_fc.config import (AtlasParams, DenoiseParams, GroupParams, Settings, dump_toml, load_toml, option_list,
                                settings_from_values)
from ketamine_fc.errors import InputError

REPO = Path(__file__).resolve().parents[2]


def test_every_setting_is_named_after_its_flag():
    names = [spec["name"] for spec in option_list()]
    assert len(names) == len(set(names))
    for spec in option_list():
        if spec.get("positional"):
            continue
        long_flags = [f for f in flags_of(spec) if f.startswith("--") and not f.startswith("--no-")]
        assert long_flags[0] == "--" + spec["name"].replace("_", "-"), spec["name"]
        assert spec["help"], f"{spec['name']} has no help text"


def test_help_shows_every_option_and_its_default_once():
    parser = build_parser()
    text = parser.format_help()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or action.dest in ("version", "config") or not action.option_strings:
            continue
        assert action.help.count("(default:") == 1, action.dest
        assert action.option_strings[0] in text
    for flag in ("--denoise-order", "--fd-thresh", "--min-coverage", "--min-region-coverage", "--overwrite",
                 "--no-subcortical-cleanup", "--disable-bandpass-filter"):
        assert flag in text


def test_readme_documents_every_option():
    readme = (REPO / "README.md").read_text()
    block = re.search(r"<!-- options:start -->\n(.*?)\n<!-- options:end -->", readme, re.S)
    assert block, "README has no options table between the markers"
    assert block.group(1).strip() == options_markdown().strip(), "README options table is out of date: paste " \
        "ketamine_fc.cli.parser.options_markdown()"


def _non_default_args(tmp_path):
    return [str(tmp_path / "bids"), str(tmp_path / "out"), "participant",
            "--participant-label", "sub-01", "02", "--session-label", "pre1", "--task", "movie",
            "--space", "MNI152NLin2009cAsym:res-2", "--derivatives", f"fmriprep={tmp_path / 'fp'}",
            "--fd-thresh", "0.3", "--head-radius", "45", "--motion-filter-type", "notch", "--band-stop-min", "12",
            "--band-stop-max", "18", "--motion-filter-order", "8", "--min-contig", "4", "--dummy-scans", "3",
            "--nuisance-regressors", "24P", "--motion-regressors", "raw", "--allow-template-mismatch", "--disable-bandpass-filter", "--lower-bpf", "0.01", "--upper-bpf", "0.1",
            "--bpf-order", "3", "--bpf-padtype", "odd", "--bpf-padlen", "50", "--denoise-order", "regress-filter", "--no-detrend", "--no-subcortical-cleanup",
            "--adjacent-cortex-mm", "25", "--sgacc", "extended", "--hippocampus-split-y", "-25",
            "--min-region-voxels", "5", "--min-region-coverage", "0.6", "--atlas-dir", str(tmp_path / "atlases"),
            "--atlas", "Toy6",
            "--min-frames", "100", "--min-time", "300", "--min-coverage", "0.7",
            "--patient-group", "TRD", "--control-group", "HC", "--baseline-timepoint", "screen",
            "--response-timepoint", "week4", "--timepoints", "screen", "week4", "--pre-sessions", "ses-a", "b",
            "--post-sessions", "c", "--cohens-d", "av", "--lme-inference", "satterthwaite", "--response-coding", "nonresponder",
            "--measures", "dmn", "limbic", "--alpha", "0.01", "--n-primary", "6", "--response-threshold", "0.4",
            "--remission-cutoff", "12", "--limbic-edge-threshold-p", "0.05", "--nbs-threshold", "3.5",
            "--nbs-permutations", "100", "--seed", "3", "--fc-table", str(tmp_path / "fc.tsv"),
            "-w", str(tmp_path / "work"), "--nprocs", "3", "--mem-gb", "6", "--plugin", "SLURM",
            "--plugin-args", '{"sbatch_args": "-p normal -t 1:00:00"}']


def test_every_option_round_trips_through_the_settings_toml(tmp_path):
    settings = parse_args(_non_default_args(tmp_path))
    defaults = Settings(bids_dir=settings.bids_dir, output_dir=settings.output_dir, analysis_level="participant")
    changed = {k for k, v in settings.to_dict().items() if defaults.to_dict()[k] != v}
    assert changed >= {spec["name"] for spec in option_list()} - {"bids_dir", "output_dir", "analysis_level",
                                                                  "verbose", "overwrite"}
    config = tmp_path / "settings.toml"
    config.write_text(dump_toml(settings, "a header"))
    again = parse_args([str(settings.bids_dir), str(settings.output_dir), "participant", "--config", str(config)])
    assert again == settings
    assert parse_args([str(settings.bids_dir), str(settings.output_dir), "participant", "--config", str(config),
                       "--fd-thresh", "0.5"]).denoise.fd_thresh == 0.5  # the command line wins


def test_relative_paths_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = parse_args(["bids", "out", "participant", "--atlas-dir", "atlases", "-w", "w", "--derivatives", "fmriprep=fp"])
    for path in (s.bids_dir, s.output_dir, s.atlas.atlas_dir, s.work_dir, s.derivatives):
        assert path.is_absolute() and str(path).startswith(str(tmp_path))


def test_relative_data_environment_variable_becomes_absolute(tmp_path):
    from ketamine_fc.atlases.registry import absolutize_environment

    env = {"KETAMINE_FC_DATA": "a:b", "KETAMINE_FC_CACHE": "~/cache"}
    absolutize_environment(env)
    assert all(Path(p).is_absolute() for p in env["KETAMINE_FC_DATA"].split(":"))
    assert env["KETAMINE_FC_CACHE"] == str(Path.home() / "cache")


@pytest.mark.parametrize("text,pattern", [
    ('fd_thresh = "abc"\n', r"setting fd_thresh: could not convert|setting fd_thresh"),
    ("fd_thresh = -1\n", r"setting fd_thresh: must be >= 0"),
    ('[denoising]\nnuisance_regressors = "99P"\n', r"setting nuisance_regressors: must be one of"),
    ("fd_threshold = 0.3\n", r"unknown setting\(s\) fd_threshold \(did you mean fd_thresh\?\)"),
    ("fd_thresh = \n", r"not a valid TOML file"),
])
def test_bad_config_values_are_named(tmp_path, text, pattern):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(InputError, match=pattern) as err:
        load_toml(config)
    assert str(config) in str(err.value)


def test_sidecar_parameters_use_the_setting_names(tmp_path):
    settings = Settings(bids_dir=tmp_path, output_dir=tmp_path / "o", analysis_level="participant")
    flat = {spec["name"] for spec in option_list()}
    assert set(settings.parameters("participant")) <= flat
    assert set(settings.parameters("group")) == set(GroupParams().to_dict())
    assert {"fd_thresh", "head_radius", "disable_bandpass_filter", "min_coverage"} <= set(settings.parameters())
    assert "work_dir" not in settings.parameters() and "atlas_dir" not in settings.parameters()


def test_python_settings_get_the_command_line_checks():
    with pytest.raises(InputError, match="--fd-thresh: must be >= 0"):
        DenoiseParams(fd_thresh=-1)
    with pytest.raises(InputError, match="--motion-filter-type notch needs --band-stop-min"):
        DenoiseParams(motion_filter_type="notch")
    with pytest.raises(InputError, match="--lower-bpf .* must be below --upper-bpf"):
        DenoiseParams(lower_bpf=0.1, upper_bpf=0.05)
    with pytest.raises(InputError, match="--min-region-coverage"):
        AtlasParams(min_region_coverage=2)
    with pytest.raises(InputError, match="--cohens-d"):
        GroupParams(cohens_d="huge")
    with pytest.raises(InputError, match="unknown setting"):
        settings_from_values({"fd_treshold": 0.2})


def test_python_settings_are_converted_like_the_command_line():
    assert GroupParams(pre_sessions=["ses-pre1", "pre2"]).pre_sessions == ("pre1", "pre2")
    assert GroupParams(pre_sessions=["ses-pre1"]).is_pre("ses-pre1")
    assert AtlasParams(sgacc="extended").sgacc == (117, 123, 125, 279, 280, 286)
    assert DenoiseParams(fd_thresh="0.3").fd_thresh == 0.3
