"""The deployment files stay honest: every command the Dockerfile, docker-compose.yml and the
Procfiles run names a management command (with options it accepts), a module or a file that
exists; the processes are the ones the README promises; .env.example lists every setting.

hadolint and `docker-compose config` check the files' syntax (`make deploy-check`, in CI);
these check what those tools cannot know: our project.
"""

import os
import re
import shlex
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands, load_command_class
from gunicorn.config import Config as GunicornConfig

ROOT = Path(__file__).resolve().parents[2]


# --- Reading the files -------------------------------------------------------------------------


def procfile(name: str) -> dict[str, list[str]]:
    lines = (ROOT / name).read_text().splitlines()
    return {
        kind.strip(): shlex.split(command)
        for kind, command in (line.split(":", 1) for line in lines if line.strip())
    }


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def compose_services_of_our_image() -> dict[str, dict]:
    return {name: svc for name, svc in compose()["services"].items() if "build" in svc}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(instruction, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def command_words(command: str | list[str]) -> list[str]:
    """A command as words: a list already (compose), exec form (a JSON array) or shell form."""
    if isinstance(command, list):
        return command
    return yaml.safe_load(command) if command.startswith("[") else shlex.split(command)


def simple_commands(command: list[str]) -> list[list[str]]:
    """`sh -c "a && b"` → [a, b]; leading VAR=value assignments dropped."""
    if command[:2] == ["sh", "-c"]:
        return [part for chain in command[2:] for part in _split_chain(chain)]
    return [_without_assignments(command)]


def _split_chain(script: str) -> list[list[str]]:
    return [_without_assignments(shlex.split(part)) for part in re.split(r"&&|;", script)]


def _without_assignments(words: list[str]) -> list[str]:
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
        words = words[1:]
    return words


# --- What a command may name -------------------------------------------------------------------


def assert_runs_something_that_exists(command: list[str], where: str) -> None:
    """python manage.py <command> [options] | python -m <module> | python <file> | gunicorn …"""
    program, *args = command
    if program.endswith("python") or program.endswith("python3") or program == "python":
        if args[0] == "manage.py":
            _assert_management_command(args[1], args[2:], where)
        elif args[0] == "-m":
            assert find_spec(args[1]) is not None, f"{where}: no module {args[1]}"
        else:
            assert (ROOT / args[0]).is_file(), f"{where}: no file {args[0]}"
    elif program.endswith("gunicorn"):
        _assert_gunicorn(args, where)
    else:
        pytest.fail(f"{where}: a command this test does not know: {shlex.join(command)}")


def _assert_management_command(name: str, options: list[str], where: str) -> None:
    commands = get_commands()
    assert name in commands, f"{where}: no management command {name!r}"
    parser = load_command_class(commands[name], name).create_parser("manage.py", name)
    try:
        parser.parse_args(options)
    except SystemExit:  # argparse's way to refuse
        pytest.fail(f"{where}: manage.py {name} refuses {shlex.join(options)}")


def _assert_gunicorn(args: list[str], where: str) -> None:
    parsed = GunicornConfig().parser().parse_args(args)
    assert parsed.config, f"{where}: gunicorn without --config deploy/gunicorn.conf.py"
    config = ROOT / parsed.config
    assert config.is_file(), f"{where}: no gunicorn config {parsed.config}"
    settings: dict = {}
    exec(compile(config.read_text(), str(config), "exec"), settings)
    module, _, attribute = settings["wsgi_app"].partition(":")
    path = ROOT / settings["pythonpath"] / f"{module}.py"
    assert path.is_file() and f"\n{attribute} = " in path.read_text(), (
        f"{where}: gunicorn's wsgi_app {settings['wsgi_app']} is not in {path}"
    )


def every_command() -> list[tuple[str, list[str]]]:
    found = []
    for name in ("Procfile", "Procfile.dev"):
        for kind, command in procfile(name).items():
            found.append((f"{name} {kind}", command))
    for service, definition in compose_services_of_our_image().items():
        found.append((f"docker-compose.yml {service}", command_words(definition["command"])))
        test = definition.get("healthcheck", {}).get("test")
        if test:
            found.append((f"docker-compose.yml {service} healthcheck", test[1:]))
    for keyword, arguments in dockerfile_instructions():
        if keyword in {"RUN", "CMD", "HEALTHCHECK"}:
            if keyword == "HEALTHCHECK":
                arguments = arguments.partition(" CMD ")[2]
            if arguments.startswith("--mount"):  # pip, from the wheels: not ours to check
                continue
            shell_form = not arguments.startswith("[")
            command = ["sh", "-c", arguments] if shell_form else command_words(arguments)
            found.append((f"Dockerfile {keyword}", command))
    return found


# The base image's own tools, in the Dockerfile's RUN steps.
IMAGE_TOOLS = {"pip", "groupadd", "useradd", "mkdir", "chown"}


@pytest.mark.parametrize(("where", "command"), every_command(), ids=lambda value: str(value))
def test_every_command_names_something_that_exists(where, command):
    for simple in simple_commands(command):
        if simple[0] not in IMAGE_TOOLS:
            assert_runs_something_that_exists(simple, where)


def test_the_dockerfile_copies_files_that_exist():
    for keyword, arguments in dockerfile_instructions():
        if keyword == "COPY" and "--from" not in arguments:
            *sources, _ = [word for word in arguments.split() if not word.startswith("--")]
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such file"


# --- The processes -----------------------------------------------------------------------------


def is_scheduler(command: list[str]) -> bool:
    return "run_huey" in command and "--no-periodic" not in command


def test_the_procfile_has_a_release_step_web_one_scheduler_and_workers():
    processes = procfile("Procfile")
    assert processes["release"] == ["python", "manage.py", "migrate", "--no-input"]
    assert processes["web"][0] == "gunicorn"
    assert is_scheduler(processes["scheduler"])
    assert "run_huey" in processes["worker"] and not is_scheduler(processes["worker"])
    # Migrations run once, in the release step, never when a process starts.
    assert not any("migrate" in c for kind, c in processes.items() if kind != "release")


def test_compose_migrates_once_before_anything_serves_or_syncs():
    services = compose()["services"]
    release = services["release"]
    assert "manage.py migrate" in " ".join(command_words(release["command"]))
    assert release["restart"] == "no"
    for name in ("web", "scheduler", "worker"):
        depends_on = services[name]["depends_on"]
        assert depends_on["release"] == {"condition": "service_completed_successfully"}, name
        assert "migrate" not in " ".join(command_words(services[name]["command"])), name


def test_compose_runs_exactly_one_scheduler_and_scalable_workers():
    services = compose_services_of_our_image()
    schedulers = [name for name, s in services.items() if is_scheduler(s["command"])]
    assert schedulers == ["scheduler"]
    assert "run_huey" in services["worker"]["command"]
    # Scaling `worker` needs no fixed name or host port.
    assert "container_name" not in services["worker"] and "ports" not in services["worker"]


def test_compose_checks_the_web_process_health_and_reads_the_operators_env_file():
    services = compose()["services"]
    assert services["web"]["healthcheck"]["test"] == ["CMD", "python", "deploy/healthcheck.py"]
    for name in ("scheduler", "worker", "release"):
        assert services[name]["healthcheck"] == {"disable": True}, name
    assert services["web"]["env_file"] == "${APP_ENV_FILE:-.env.production}"


def test_the_simulator_profile_serves_where_the_documentation_points():
    services = compose()["services"]
    offers = services["offers"]
    assert offers["profiles"] == ["simulator"]
    command = command_words(offers["command"])
    assert command[:3] == ["python", "-m", "offers_simulator"]
    port = command[command.index("--port") + 1]
    documented = f"OFFERS_BASE_URL=http://offers:{port}/api/v1"
    assert documented in (ROOT / "docker-compose.yml").read_text()
    assert documented in (ROOT / "README.md").read_text()


def test_the_image_runs_as_a_user_and_checks_its_health():
    instructions = dict(dockerfile_instructions())  # the last of each kind: the runtime's
    assert instructions["USER"] not in {"root", "0", "0:0"}
    assert "deploy/healthcheck.py" in instructions["HEALTHCHECK"]
    froms = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "FROM"]
    assert len(froms) == 2, "a build stage and a runtime stage"


# --- .env.example ------------------------------------------------------------------------------


def env_example() -> dict[str, str]:
    assignments = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            assignments[name] = value
    return assignments


def readme_settings_table() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    names = []
    for row in section.splitlines():
        if row.startswith("| `"):
            first_cell = row.split("|")[1]
            names += re.findall(r"`([A-Z_]+)`", first_cell)
    return names


def variables_the_settings_read() -> set[str]:
    settings = (ROOT / "site" / "settings.py").read_text()
    return set(re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', settings)) - {"DJANGO_TESTING"}


def test_the_readme_lists_every_variable_the_settings_read():
    missing = variables_the_settings_read() - set(readme_settings_table())
    assert not missing, f"not in the README's settings table: {sorted(missing)}"


def test_env_example_sets_every_variable_of_the_readme():
    table = readme_settings_table()
    assert len(table) > 40
    example = env_example()
    # ENV_FILE names the file itself; .env.example explains it in a comment.
    missing = [name for name in table if name not in example and name != "ENV_FILE"]
    assert not missing, f"not in .env.example: {missing}"
    assert "# ENV_FILE" in (ROOT / ".env.example").read_text()
    unknown = set(example) - set(table)
    assert not unknown, f"in .env.example but not in the README: {sorted(unknown)}"


def test_env_example_values_read_alike_everywhere():
    # docker-compose v1 keeps quotes and trailing comments as part of a value; environ strips them.
    # Nothing a shell would read differently either: `set -a; . ./.env.production` works.
    for name, value in env_example().items():
        assert re.fullmatch(r"[\w@.:/,+=-]*", value), f"{name}={value}: plain characters only"
    assert env_example()["SECRET_KEY"] == "", "a placeholder: no usable secret in the repository"
    assert env_example()["DEBUG"] == "false"


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "DJANGO_TESTING": "0", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_env_example_and_a_secret_key():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "DEBUG",
        ENV_FILE=".env.example",
        SECRET_KEY="k" * 20 + "-production-secret-of-sufficient-length-and-variety-9f8e7d6c",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_env_example_without_a_secret_key_refuses_to_start():
    result = manage("check", ENV_FILE=".env.example")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
