from heron.cli import build_parser


def test_parser_has_commands() -> None:
    p = build_parser()
    args = p.parse_args(["up"])
    assert args.command == "up"
