from edge.mqtt.topics import Topics

T = Topics("edge", "34020000001180000001")


def test_topics_live_under_prefix_and_node() -> None:
    assert T.status == "edge/34020000001180000001/status"
    assert T.camera_state("34020000001320000001") == (
        "edge/34020000001180000001/cameras/34020000001320000001/state")
    assert T.outbox("alarms") == "edge/34020000001180000001/alarms"
    assert T.reply("ping") == "edge/34020000001180000001/cmd/ping/reply"


def test_command_names_and_what_is_not_a_command() -> None:
    assert T.command_name("edge/34020000001180000001/cmd/ping") == "ping"
    assert T.command_name("edge/34020000001180000001/cmd/ping/reply") is None
    assert T.command_name("edge/34020000001180000001/cmd/") is None
    assert T.command_name("edge/other/cmd/ping") is None
