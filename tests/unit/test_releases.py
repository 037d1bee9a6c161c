"""Release profiles: loading, the stored files, extra profile directories, MLNode tag order,
the repo cache, drift, and the errors that name what failed."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from gonka_deploy.release import profiles, repo
from gonka_deploy.release.images import MLNodeTag, choose_image, newest
from gonka_deploy.release.profiles import (
    DEFAULT_RELEASE,
    ReleaseError,
    known_names,
    load_profile,
    with_profile,
)
from gonka_deploy.schema import HostConfig
from gonka_deploy.topology import TopologyError, drift_report, topology
from gonka_deploy.validate import validate_host

from .helpers import PASSWORD, REPO, host_config, merged

SHIPPED = ["v0.2.13", "v0.2.14", "v0.2.16-post1"]


@pytest.fixture()
def extra_dir(tmp_path, monkeypatch):
    """An empty extra profile directory on GONKA_RELEASES_PATH, and a private repo cache."""
    folder = tmp_path / "releases"
    folder.mkdir()
    monkeypatch.setenv("GONKA_RELEASES_PATH", str(folder))
    monkeypatch.setenv("GONKA_CACHE_DIR", str(tmp_path / "cache"))
    repo._FAILED.clear()
    return folder


def copy_profile(source: str, folder: Path, name: str, edit=None, **values) -> Path:
    """A copy of a shipped profile under another name, its stored files edited by ``edit``
    (repo path -> new text) with their sums recomputed; ``values`` replace top-level keys."""
    text = (profiles.SHIPPED / f"{source}.py").read_text()
    text = text.replace(f'name = "{source}"', f'name = "{name}"')
    shipped = load_profile(source)
    files = {rel: t for rel, t in shipped.stored_files().items()}
    files.update(edit or {})
    sums = {}
    for rel, content in files.items():
        path = folder / name / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        sums[rel] = hashlib.sha256(content.encode()).hexdigest()
    text += f"\nupstream_files = {sums!r}\n"
    for key, value in values.items():
        text += f"\n{key} = {value!r}\n"
    path = folder / f"{name}.py"
    path.write_text(text)
    return path


def test_shipped_profiles_load_and_the_newest_is_the_default():
    assert known_names() == SHIPPED
    assert DEFAULT_RELEASE == "v0.2.16-post1" == HostConfig.model_fields["release"].default
    assert (REPO / "group_data" / "all.py").read_text().count(
        f'release = "{DEFAULT_RELEASE}"') == 1
    for name in SHIPPED:
        profile = load_profile(name)
        assert profile.name == name and len(profile.gonka_ref) == 40
        # Every profile validates as a host's defaults.
        host_config(release=name)


@pytest.mark.parametrize("name", ["v0.2.13", "v0.2.14"])
def test_stored_files_match_their_sha256_in_the_profile(name):
    profile = load_profile(name)
    files = profile.stored_files()
    assert set(files) == set(profile.upstream_files) >= {
        "deploy/join/config.env.template", "deploy/join/docker-compose.yml",
        "deploy/join/docker-compose.mlnode.yml", "deploy/join/nginx.conf"}
    for rel, text in files.items():
        assert hashlib.sha256(text.encode()).hexdigest() == profile.upstream_files[rel]


def test_a_stored_file_that_changed_is_refused(extra_dir):
    copy_profile("v0.2.14", extra_dir, "edited")
    (extra_dir / "edited" / "deploy/join/nginx.conf").write_text("events {}\n")
    with pytest.raises(ReleaseError, match=r"edited/deploy/join/nginx.conf has sha256 \w+…, "
                                           r"the profile says ff32edb168e2…"):
        load_profile("edited").stored_files()


def test_the_newest_profile_says_it_stores_no_files_and_lists_what_is_unverified():
    profile = load_profile("v0.2.16-post1")
    assert not profile.stores_files
    assert any("136041c8:deploy/join/* could not be read" in u for u in profile.unverified)
    assert len(load_profile("v0.2.13").unverified) == 1  # the v0.2.13 height


def test_the_default_profile_reads_the_seed_over_https():
    """The seed's answers decide where state sync lands and which upgrade is due: the default
    release reaches it over HTTPS, as upstream serves it (node3.gonka.ai, cited there)."""
    profile = load_profile(DEFAULT_RELEASE)
    assert profile.seed_api_url == "https://node3.gonka.ai"
    assert profile.seed_node_rpc_url == "https://node3.gonka.ai/chain-rpc/"
    assert profile.seed_node_p2p_url == "tcp://node3.gonka.ai:5000"  # the same seed's P2P
    c = host_config()
    assert str(c.seed_api_url).startswith("https://") and c.chain_api.startswith("https://")


def test_unknown_release_names_host_field_and_the_known_ones():
    _, problems = validate_host("gpu-x", {**merged(release="v0.3.0")},
                                {"GONKA_KEYRING_PASSWORD": PASSWORD})
    assert [(p.host, p.field, p.message) for p in problems] == [
        ("gpu-x", "release", "unknown release 'v0.3.0' (known: v0.2.13, v0.2.14, "
                             "v0.2.16-post1)")]


def test_extra_profile_directory_adds_profiles_and_refuses_a_second_definition(extra_dir):
    copy_profile("v0.2.14", extra_dir, "private-1")
    assert "private-1" in known_names()
    assert load_profile("private-1").gonka_ref == load_profile("v0.2.14").gonka_ref
    copy_profile("v0.2.14", extra_dir, "v0.2.13")
    with pytest.raises(ReleaseError, match="release 'v0.2.13' is defined twice"):
        load_profile("v0.2.13")


def test_a_profile_with_an_unknown_key_or_a_short_ref_is_refused(extra_dir):
    copy_profile("v0.2.14", extra_dir, "typo", imagez={})
    with pytest.raises(ReleaseError, match=r"typo.py: imagez: Extra inputs"):
        load_profile("typo")
    copy_profile("v0.2.14", extra_dir, "short", gonka_ref="ee730031")
    with pytest.raises(ReleaseError, match="gonka_ref: Value error, must be a full 40-hex"):
        load_profile("short")


def test_host_data_overrides_single_values_dicts_per_key():
    profile = load_profile("v0.2.14")
    data = with_profile(profile, {"images": {"api": "x/api:1"}, "gonka_ref": "main",
                                  "model_catalog": {"org/m": {"hf_repo": "org/m"}}})
    assert data["images"] == {**profile.images, "api": "x/api:1"}
    assert set(data["model_catalog"]) == {*profile.model_catalog, "org/m"}
    assert data["gonka_ref"] == "main"
    assert data["gpu_presets"] == profile.gpu_presets


def test_old_images_key_proxy_ssl_names_the_compose_service():
    c = host_config(release="v0.2.14", images={"proxy_ssl": "x/proxy-ssl:1"})
    assert c.images["proxy-ssl"] == "x/proxy-ssl:1" and "proxy_ssl" not in c.images


# ---------------------------------------------------------------- a profile is data, found by name


def test_a_profile_runs_no_code_so_it_never_sees_the_environments_secrets(extra_dir, tmp_path,
                                                                         monkeypatch):
    monkeypatch.setenv("GONKA_KEYRING_PASSWORD", PASSWORD)
    monkeypatch.setenv("GONKA_BACKUP_PASSPHRASE", "backup-" + PASSWORD)
    leak = tmp_path / "leak"
    path = copy_profile("v0.2.14", extra_dir, "nosy")
    path.write_text(path.read_text() + (
        "\nimport os as _os\n"
        f"_LEAK = open({str(leak)!r}, 'w').write(repr(dict(_os.environ)))\n"))
    with pytest.raises(ReleaseError, match=r"nosy.py: DataFileError: line \d+: an import of os "
                                           r"\(a release profile is plain data"):
        load_profile("nosy")
    assert not leak.exists()  # nothing in the file ran
    # The same through a builtin, with no import at all.
    path = copy_profile("v0.2.14", extra_dir, "nosy2")
    path.write_text(path.read_text() + (
        f"\n_LEAK = open({str(leak)!r}, 'w').write(__import__('os').environ['GONKA_KEYRING_"
        "PASSWORD'])\n"))
    with pytest.raises(ReleaseError, match="a call of anything but an allowed import"):
        load_profile("nosy2")
    assert not leak.exists()


def test_a_profile_reads_literals_earlier_names_joined_lists_and_the_mainnet_upgrades(extra_dir):
    from gonka_deploy.release.mainnet import through

    extra = {"name": "v0.2.17", "height": 7000000, "binaries": {}}
    path = copy_profile("v0.2.16-post1", extra_dir, "next")
    path.write_text(path.read_text() + (
        "\n_TAG = 'v0.2.16'\nchain_upgrades = _through(_TAG) + [\n"
        f"    {extra!r},\n]\n"))
    profile = load_profile("next")
    assert [u.name for u in profile.chain_upgrades] == [u["name"] for u in through("v0.2.16")] + [
        "v0.2.17"]
    assert profile.images == load_profile("v0.2.16-post1").images  # adjacent strings joined


def test_a_release_name_that_is_a_path_is_refused_before_any_lookup(extra_dir):
    outside = extra_dir.parent / "x.py"
    outside.write_text((profiles.SHIPPED / "v0.2.14.py").read_text())
    for name in ("../x", str(outside.with_suffix("")), "v0.2.14/../../x", ".hidden"):
        with pytest.raises(ReleaseError, match=r"is not a release name .* never by path"):
            load_profile(name)
    _, problems = validate_host("gpu-x", {**merged(release="../x")},
                                {"GONKA_KEYRING_PASSWORD": PASSWORD})
    assert [(p.host, p.field) for p in problems] == [("gpu-x", "release")]
    assert "is not a release name" in problems[0].message


def test_a_profile_symlinked_out_of_its_directory_is_refused(extra_dir, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = copy_profile("v0.2.14", elsewhere, "escape")
    (extra_dir / "escape.py").symlink_to(target)
    with pytest.raises(ReleaseError, match=r"escape.py: it resolves to .*elsewhere/escape.py, "
                                           r"outside .*releases \(a symlink out of a profile "
                                           r"directory is refused\)"):
        load_profile("escape")
    # A stored upstream file may not leave the directory either.
    copy_profile("v0.2.14", extra_dir, "linked")
    nginx = extra_dir / "linked" / "deploy/join/nginx.conf"
    (elsewhere / "nginx.conf").write_text(nginx.read_text())
    nginx.unlink()
    nginx.symlink_to(elsewhere / "nginx.conf")
    with pytest.raises(ReleaseError, match="outside"):
        load_profile("linked").stored_files()


# ---------------------------------------------------------------- MLNode tags


def test_mlnode_tags_order_by_release_then_post_build_labels_aside():
    tags = ["3.1.0-vllm-0.28.0", "3.0.16-cu129", "3.0.14-post2", "3.0.17", "3.0.13",
            "3.0.14", "3.0.16"]
    ordered = sorted(tags, key=MLNodeTag)
    assert ordered[:3] == ["3.0.13", "3.0.14", "3.0.14-post2"]
    assert MLNodeTag("3.0.16") == MLNodeTag("3.0.16-cu129")
    assert MLNodeTag("3.0.16") < MLNodeTag("3.0.17") < MLNodeTag("3.1.0-vllm-0.28.0")
    assert MLNodeTag("3.0.12-post6-blackwell") < MLNodeTag("3.0.13")
    with pytest.raises(ValueError, match="not an MLNode tag"):
        MLNodeTag("latest")


def test_an_ml_node_runs_the_newest_minimum_or_its_own_image():
    base = "ghcr.io/gonka-ai/mlnode:3.0.16@sha256:" + "1" * 64
    glm = "ghcr.io/gonka-ai/mlnode:3.1.0-vllm-0.28.0"
    minimax = "ghcr.io/gonka-ai/mlnode:3.0.14-post2"
    assert choose_image(base, None, [minimax]) == base          # the release's is newer
    assert choose_image(base, None, [minimax, glm]) == glm
    assert choose_image("x/mlnode:3.0.13", None, [minimax]) == minimax
    assert choose_image(base, "x/custom:latest", [glm]) == "x/custom:latest"
    assert choose_image("x/mlnode:latest", None, [glm]) == "x/mlnode:latest"  # not comparable
    assert newest([base, "ghcr.io/gonka-ai/mlnode:3.0.16-cu129"]) == base  # tie: first wins


# ---------------------------------------------------------------- the repo cache


def git(*args, cwd):
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture()
def upstream(tmp_path):
    """A local git repo holding v0.2.14's deploy/join files, one commit."""
    work = tmp_path / "upstream"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    for rel, text in load_profile("v0.2.14").stored_files().items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text)
    git("add", "-A", cwd=work)
    git("commit", "-qm", "join files", cwd=work)
    return work, git("rev-parse", "HEAD", cwd=work)


def test_a_profile_without_files_fetches_them_once_into_a_read_only_cache(extra_dir, upstream):
    work, commit = upstream
    path = copy_profile("v0.2.14", extra_dir, "nofiles", gonka_ref=commit,
                        gonka_repo_url=f"file://{work}")
    path.write_text(path.read_text() + "\nupstream_files = {}\n")
    c = host_config(release="nofiles")
    topo = topology(c)
    folder = Path(os.environ["GONKA_CACHE_DIR"]) / "repo" / commit
    assert topo.files.source == f"cache {folder}"
    compose = folder / "deploy/join/docker-compose.yml"
    assert stat.S_IMODE(compose.stat().st_mode) == 0o444
    assert stat.S_IMODE(compose.parent.stat().st_mode) == 0o555
    expected = f"files: release nofiles stores no upstream files for {commit[:12]}; deploy/join"
    assert any(i.startswith(f"{expected} comes from cache") for i in drift_report(c))
    shutil.rmtree(work)  # the cache alone serves the next run
    from gonka_deploy import topology as module

    module._CACHE.clear()
    assert topology(c).files.files == topo.files.files


def test_a_failed_fetch_names_the_release_the_commit_and_the_cause(extra_dir, tmp_path):
    path = copy_profile("v0.2.14", extra_dir, "gone", gonka_ref="1" * 40,
                        gonka_repo_url=f"file://{tmp_path}/nowhere.git")
    path.write_text(path.read_text() + "\nupstream_files = {}\n")
    with pytest.raises(TopologyError, match=r"release gone stores no upstream files; fetching "
                                            r"deploy/join at 111111111111 from file://.*/nowhere"
                                            r".git failed: fatal: "):
        topology(host_config(release="gone"))


def test_a_host_pinning_another_ref_reads_that_commit_not_the_stored_files(extra_dir,
                                                                          upstream):
    work, commit = upstream
    c = host_config(release="v0.2.14", gonka_ref=commit, gonka_repo_url=f"file://{work}")
    topo = topology(c)
    assert topo.files.commit == commit and topo.files.source.startswith("cache ")
    assert drift_report(c)[0].startswith(f"files: release v0.2.14 stores no upstream files for "
                                         f"{commit[:12]}; deploy/join comes from cache ")


# ---------------------------------------------------------------- drift and merge errors


def test_drift_is_silent_for_a_release_whose_files_match_its_profile():
    assert drift_report(host_config(release="v0.2.13")) == []


def test_drift_names_new_ports_variables_services_and_image_tags(extra_dir):
    shipped = load_profile("v0.2.14").stored_files()
    api = "image: ghcr.io/product-science/api:0.2.14"
    compose = shipped["deploy/join/docker-compose.yml"].replace(api, api + "-post1") + (
        "\n  edge-api:\n    container_name: edge-api\n"
        "    image: ghcr.io/product-science/edge-api:0.2.14\n")
    template = shipped["deploy/join/config.env.template"] + "\nexport EDGE_API_PORT=18080\n"
    copy_profile("v0.2.14", extra_dir, "drifty", edit={
        "deploy/join/docker-compose.yml": compose, "deploy/join/config.env.template": template})
    items = drift_report(host_config(release="drifty"))
    assert items == [
        "image: service api: the repo's compose pins ghcr.io/product-science/api:0.2.14-post1, "
        "the profile ghcr.io/product-science/api:0.2.14",
        "image: service edge-api has no image in the profile; the compose's "
        "ghcr.io/product-science/edge-api:0.2.14 runs",
        "config.env: EDGE_API_PORT left at the template's default '18080'",
        "port: bridge 30303->30303/tcp is published by the release on every interface; bound to "
        "127.0.0.1 (list '30303' in public_ports to open it)",
        "port: bridge 30303->30303/udp is published by the release on every interface; bound to "
        "127.0.0.1 (list '30303/udp' in public_ports to open it)",
    ]
    opened = host_config(release="drifty", public_ports=[30303],
                         images={"edge-api": "ghcr.io/product-science/edge-api:0.2.14"})
    assert [i for i in drift_report(opened) if i.startswith(("port:", "image: service edge"))] \
        == []


def test_drift_compares_the_host_clone_with_the_release_files():
    from gonka_deploy.topology import checked_files

    c = host_config(release="v0.2.14")
    sums = checked_files(c)
    assert drift_report(c, sums)[2:] == []  # the two 30303 lines only
    changed = {**sums, "deploy/join/docker-compose.yml": "0" * 64}
    del changed["deploy/join/nginx.conf"]
    assert drift_report(c, changed)[2:] == [
        "files: deploy/join/docker-compose.yml on the host has sha256 000000000000…, the "
        "release's copy e287105abba5…",
        "files: deploy/join/nginx.conf is missing from the host's clone"]


def test_a_compose_file_that_does_not_merge_stops_the_host_naming_the_file(extra_dir):
    copy_profile("v0.2.14", extra_dir, "broken", edit={
        "deploy/join/docker-compose.mlnode.yml": "services:\n  inference:\n    ports: 5\n"})
    with pytest.raises(TopologyError, match=r"merging deploy/join/docker-compose.yml, "
                                            r"deploy/join/docker-compose.mlnode.yml of \w+ .*"
                                            r"docker-compose.mlnode.yml"):
        topology(host_config(release="broken"))
