"""``fleet apk ...`` commands through Flask's CLI runner."""

from __future__ import annotations

import re


def test_cli_upload_approve_release_channels_token(runner, create_user, apk_factory, client):
    uploader, approver = create_user("admin"), create_user("admin")
    apk = apk_factory.build(package="com.dhis2", version_code=30700, version_name="3.7.0")
    result = runner.invoke(args=["apk", "upload", str(apk), "--notes", "CLI build",
                                 "--user", uploader.username])
    assert result.exit_code == 0, result.output
    rid = int(re.search(r"release (\d+): com.dhis2 3.7.0 \(versionCode 30700\) vetted",
                        result.output).group(1))
    assert "pass  signature" in result.output
    again = runner.invoke(args=["apk", "upload", str(apk)])
    assert f"release {rid}:" in again.output and "already uploaded" in again.output
    assert runner.invoke(args=["apk", "testing", str(rid)]).exit_code == 0
    # four-eyes: no identified user, or the uploader, cannot approve
    refused = runner.invoke(args=["apk", "approve", str(rid)])
    assert refused.exit_code != 0 and "identified fleet user" in refused.output
    refused = runner.invoke(args=["apk", "approve", str(rid), "--user", uploader.username])
    assert refused.exit_code != 0 and "Four-eyes" in refused.output
    ok = runner.invoke(args=["apk", "approve", str(rid), "--user", approver.username])
    assert ok.exit_code == 0 and "approved" in ok.output
    assert runner.invoke(args=["apk", "channel-add", "production", "--default"]).exit_code == 0
    out = runner.invoke(args=["apk", "release", str(rid), "--channel", "production",
                              "--rollout", "40"])
    assert out.exit_code == 0, out.output
    assert "production: com.dhis2 3.7.0 (versionCode 30700) at 40 %" in out.output
    channels = runner.invoke(args=["apk", "channels"]).output
    assert "production [default]" in channels and "com.dhis2 3.7.0 (30700) 40 %" in channels
    listing = runner.invoke(args=["apk", "list"]).output
    assert re.search(rf"\s{rid}\s+released\s+com.dhis2\s+3.7.0", listing)
    tok = runner.invoke(args=["apk", "token", "--channel", "production"])
    assert tok.exit_code == 0
    plain = tok.stdout.strip().splitlines()[0]
    assert plain.startswith("fdl_")
    sha = re.search(r"sha256 ([0-9a-f]{64})", result.output).group(1)
    assert client.get(f"/apk/{sha}.apk?token={plain}").data == apk.read_bytes()


def test_cli_upload_of_a_bad_apk_exits_1_with_reasons(runner, apk_factory):
    bad = apk_factory.truncated(apk_factory.build(package="org.fleet.cli", version_code=1))
    result = runner.invoke(args=["apk", "upload", str(bad)])
    assert result.exit_code == 1
    assert "rejected" in result.output and "fail  zip: not a readable ZIP" in result.output
