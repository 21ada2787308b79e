"""`python -m bot …`: the operator's commands (English output; buyers never see it)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from bot import db, migrations
from bot.config import Settings, settings
from bot.models import Product
from bot.policy import PolicyError, policy
from bot.training import TrainingFailed


def init_db(reseed: bool = False, now: datetime | None = None) -> None:
    """Bring the schema up to date (bot/migrations), and seed the demo shop if the database is empty (or asked to)."""
    from bot.seed import seed_shop

    migrations.upgrade()
    with db.session_scope() as session:
        empty = not session.scalar(select(func.count()).select_from(Product))
        if empty or reseed:
            counts = seed_shop(session, policy(), now=now)
            print("Seeded the demo shop: " + ", ".join(f"{n} {t}" for t, n in counts.items()), flush=True)
        else:
            print("Shop database already holds data; not seeding.", flush=True)


def _demo_account(role_name: str) -> str | None:
    """On a shop with no accounts of this role yet, create 'demo' with a random password (printed once)."""
    import secrets

    from bot.web.accounts import AGENT, TRAINER, create_account

    role = {"agent": AGENT, "trainer": TRAINER}[role_name]
    with db.session_scope() as session:
        if session.scalar(select(func.count()).select_from(role.account)):
            return None
        password = secrets.token_urlsafe(9)
        display = {"agent": "演示客服", "trainer": "演示训练师"}[role_name]
        create_account(session, role, "demo", display, password, policy().now())
        return password


def serving_model(candidate: Path) -> Path:
    """The model to serve: the new one if it passes the regression gate, else the current one."""
    from bot.trainer import registry
    from bot.trainer.evaluation import gate
    from bot.trainer.pipeline import evaluation_of

    serving = registry.active_model()
    if serving is None or serving == candidate:
        registry.activate(candidate.name)
        return candidate
    print(f"Checking the new model {candidate.name} against the serving {serving.name} …", flush=True)
    verdict = gate(evaluation_of(candidate), evaluation_of(serving))  # cached per model and test set
    if verdict.passed:
        registry.activate(candidate.name)
        print("  passed: the new model serves.", flush=True)
        return candidate
    print("  refused, the previous model keeps serving: " + "; ".join(verdict.reasons), flush=True)
    return serving


def cmd_models(args: argparse.Namespace) -> int:
    """List model versions, activate one (hot-swapped if Rasa runs) or roll back."""
    from bot.trainer import registry

    if args.action == "list":
        active = registry.load().active
        for path in registry.models():
            stamp = datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
            print(f"{'*' if path.name == active else ' '} {path.name}  {stamp}  {path.stat().st_size // 1_000_000} MB")
        return 0
    try:
        name = registry.rollback() if args.action == "rollback" else args.model
        not_switched = registry.serve(name, settings().rasa_replicas)
    except (LookupError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{name} is now the serving model.")
    if not_switched:
        print(f"Rasa was not switched now ({not_switched}); it serves this model from the next ./shop run.")
    else:
        print("The running Rasa server switched to it; conversations carry on.")
    return 0


def cmd_init_db(args: argparse.Namespace) -> int:
    init_db(reseed=args.reseed, now=datetime.fromisoformat(args.now) if args.now else None)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from bot.processes import service_env
    from bot.training import train_if_stale

    train_if_stale(service_env(), force=args.force)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from bot.processes import action_server, gateway, rasa_servers, service_env, start_all, stop_all
    from bot.supervision import CrashLoop, Supervisor, log_to_stderr
    from bot.training import train_if_stale

    s = settings()
    policy()  # a broken policy file stops here, with the reason
    init_db()
    env = service_env()
    model = serving_model(train_if_stale(env))
    demo_passwords = {role: _demo_account(role) for role in ("agent", "trainer")}
    rasas = rasa_servers(model, env)
    which = "the Rasa server" if len(rasas) == 1 else f"{len(rasas)} Rasa servers"
    print(f"Starting the action server, {which} and the chat gateway …", flush=True)
    processes = [action_server(env), *rasas, gateway(env)]
    # SIGTERM (a process manager stopping us) ends the run like Ctrl-C, during start-up too: never leave servers behind.
    signal.signal(signal.SIGTERM, _interrupt)
    supervisor_log = log_to_stderr()
    try:
        seconds = start_all(processes)
        print(_ready_banner(s, seconds, demo_passwords), flush=True)
        Supervisor(processes).run()  # restarts a crashed process; returns only by a crash loop or a signal
    except CrashLoop as exc:
        supervisor_log.error("%s", exc)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        # A second Ctrl-C or SIGTERM must not cut the shutdown short and leave servers running.
        for stop_signal in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop_signal, signal.SIG_IGN)
        stop_all(processes)
    return 0


def _ready_banner(s: Settings, seconds: float, demo_passwords: dict[str, str | None]) -> str:
    """What `./shop run` prints once everything answers: where to chat, work and look."""
    return (
        f"\nReady in {seconds:.1f} s.\n"
        f"  Shop page with the chat widget: http://127.0.0.1:{s.gateway_port}/\n"
        f"  Agents' console:                http://127.0.0.1:{s.gateway_port}/console"
        "  (more accounts: ./shop agent-add NAME)\n"
        f"  Trainers' console:              http://127.0.0.1:{s.gateway_port}/trainer"
        "  (more accounts: ./shop trainer-add NAME)\n"
        f"  Terminal chat:                  ./shop shell  (in another terminal)\n"
        + "".join(
            f"  Rasa REST (127.0.0.1 only):     {url}/webhooks/rest/webhook"
            + (
                f"  (shard {i + 1}/{len(s.rasa_shards)}: CRC-32 of the conversation id)"
                if len(s.rasa_shards) > 1
                else ""
            )
            + "\n"
            for i, url in enumerate(s.rasa_shards)
        )
        + f"  Health of every component:      http://127.0.0.1:{s.gateway_port}/health\n"
        + f"  Logs:                           {s.var_dir / 'logs'}\n"
        + "".join(
            f"  {f'Demo {role} account:':<32}demo / {password}\n"
            for role, password in demo_passwords.items()
            if password
        )
        + "Press Ctrl-C to stop."
    )


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def cmd_handoff(args: argparse.Namespace) -> int:
    from bot.shop import handoff

    now = policy().now()
    if args.action == "list":
        with db.session_scope() as session:
            tickets = handoff.list_tickets(session, include_resolved=args.all)
        if not tickets:
            print("No open handoff tickets.")
        for t in tickets:
            waited = int((now - t.created_at).total_seconds() // 60)
            print(
                f"#{t.id:<5} {t.status:<9} p{t.priority} {t.reason:<13} waited {waited:>4} min  "
                f"buyer={t.buyer_id or '-'} order={t.order_id or '-'} conversation={t.conversation_id}"
            )
        return 0
    if args.ticket is None:
        print("Give the ticket number, e.g. `handoff show 3`.", file=sys.stderr)
        return 2
    with db.session_scope() as session:
        ticket = handoff.get_ticket(session, args.ticket)
    if ticket is None:
        print(f"No handoff ticket #{args.ticket}.", file=sys.stderr)
        return 1
    if args.action == "show":
        print(json.dumps(ticket.__dict__, default=str, ensure_ascii=False, indent=2))
        return 0
    # resolve: close the ticket, then give the conversation back to the bot.
    from bot.rasa_api import RasaUnavailable, hand_back

    with db.session_scope() as session:
        resolved = handoff.resolve_ticket(session, args.ticket, now)
    if resolved is None:
        print(f"Ticket #{args.ticket} is already resolved.", file=sys.stderr)
        return 1
    try:
        messages = hand_back(resolved.conversation_id)
    except RasaUnavailable as exc:
        print(f"Ticket #{args.ticket} is resolved, but the conversation was not resumed: {exc}", file=sys.stderr)
        print("Run the same command again once Rasa is up; resuming is safe to repeat.", file=sys.stderr)
        return 1
    print(f"Ticket #{args.ticket} resolved; conversation {resolved.conversation_id} is back with the bot.")
    for message in messages:
        print(f"  bot → buyer: {message.get('text', '')}")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    """Resume a conversation whose ticket is already resolved (e.g. Rasa was down)."""
    from bot.rasa_api import RasaUnavailable, hand_back

    try:
        for message in hand_back(args.conversation):
            print(f"  bot → buyer: {message.get('text', '')}")
    except RasaUnavailable as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


def cmd_account(args: argparse.Namespace) -> int:
    """Create an agent or trainer account; the password is read from standard input."""
    import getpass

    from bot.web.accounts import AGENT, TRAINER, create_account

    role = AGENT if args.command == "agent-add" else TRAINER
    migrations.upgrade()
    password = sys.stdin.readline().strip() if not sys.stdin.isatty() else getpass.getpass("Password: ")
    try:
        with db.session_scope() as session:
            create_account(session, role, args.username, args.name or args.username, password, policy().now())
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{role.name.capitalize()} '{args.username}' created.")
    return 0


def cmd_nlu(args: argparse.Namespace) -> int:
    """Trainers' changes to the NLU data: list, add, import (exit 2 when refused)."""
    from bot.trainer.examples import ExampleError, TrainingData, read_tsv

    data = TrainingData()
    try:
        if args.action == "list":
            for example in data.examples(args.intent, args.search, test=args.test):
                print(f"{example.intent}\t{example.text}")
        elif args.action == "add":
            added = data.add(args.intent, args.text, as_test=args.test)
            print(f"Added to {added.file}: {added.intent}: {added.text}")
            print("Run ./shop train (or ./shop test) to use it.")
        else:
            counts = data.import_rows(read_tsv(Path(args.file)), as_test=args.test)
            print("Imported " + ", ".join(f"{n} × {intent}" for intent, n in counts.items()))
    except (ExampleError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_inbox(args: argparse.Namespace) -> int:
    """The trainers' inbox: list what the bot misunderstood, import chat history, label or dismiss it."""
    from bot.trainer import inbox
    from bot.trainer.examples import ExampleError, TrainingData

    migrations.upgrade()
    if args.action == "import":
        return _inbox_import(Path(args.file), args.source)
    if args.action == "list":
        with db.session_scope() as session:
            items = inbox.collect(session, limit=args.limit)
        if not items:
            print("The inbox is empty.")
        for item in items:
            top = ", ".join(f"{r['intent']} {r['confidence']:.2f}" for r in item.top3) or "-"
            why = ", ".join(sorted(item.reasons)) + (f" from {item.source}" if item.source else "")
            print(f"{item.id}  ×{item.count:<3} {item.text}\n          why: {why}; bot saw: {top}")
        return 0
    with db.session_scope() as session:
        item = inbox.find(session, args.item)
    if item is None:
        print(f"error: no open inbox item {args.item!r} (see ./shop inbox list)", file=sys.stderr)
        return 2
    if args.action == "dismiss":
        decision, intent = "dismissed", None
    else:
        decision, intent = ("test" if args.test else "labelled"), args.intent
        try:
            added = TrainingData().add(args.intent, item.text, as_test=args.test)
        except ExampleError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"Added to {added.file}: {added.intent}: {added.text}")
    with db.session_scope() as session:
        inbox.decide(session, item.key, decision, intent, policy().now())
    print(f"Inbox item {item.id} {decision}.")
    return 0


def _inbox_import(path: Path, source: str | None) -> int:
    """Import a chat export into the inbox, all or nothing (exit 2 when the file is refused)."""
    from bot.trainer.chat_import import ChatImportError
    from bot.trainer.examples import ExampleError
    from bot.trainer.inbox_import import import_chat_file

    interactive = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        # One updating line on a terminal; in a log, a line every 1,000 texts (and the last).
        if interactive:
            print(
                f"\r  guessing intents: {done:,} / {total:,} lines", end="\n" if done == total else "", file=sys.stderr
            )
        elif done == total or done % 1000 < 64:
            print(f"  guessing intents: {done:,} / {total:,} lines", file=sys.stderr, flush=True)

    try:
        summary = import_chat_file(path, source, policy().now(), progress)
    except (ChatImportError, ExampleError, FileNotFoundError) as exc:
        print(f"error: {exc}; nothing was imported.", file=sys.stderr)
        return 2
    print("\n".join(summary.lines()))
    if summary.kept:
        print("Label them in the trainers' console (待处理 → 批量标注) or with ./shop inbox list / label.")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Check the training data before a retrain: clashes between intents, then Rasa's own checks."""
    from bot.processes import service_env
    from bot.trainer.pipeline import Progress, data_problems

    print("Checking the training data (clashes between intents, rasa data validate) …", flush=True)
    problems = data_problems(service_env(), Progress(lambda event: print(event["log"]) if "log" in event else None))
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    print("Training data is valid." if not problems else "Training data has problems (see above).")
    return 0 if not problems else 1


def cmd_retrain(args: argparse.Namespace) -> int:
    """Validate, train, evaluate against the serving model, activate if the gate passes (exit 0/1/2)."""
    from bot.processes import service_env
    from bot.trainer.pipeline import PHASES, retrain

    shown = {"phase": ""}

    def show(event: dict) -> None:
        if args.json:  # one JSON object per line, for the trainers' console
            print(json.dumps(event, ensure_ascii=False), flush=True)
            return
        if event["phase"] != shown["phase"]:
            shown["phase"] = event["phase"]
            print(f"== {event['phase']} ({PHASES[event['phase']]}) {event['percent']}%", flush=True)
        elif "log" not in event and event["percent"] % 10 == 0:
            print(f"   {event['percent']}%", flush=True)
        if "log" in event:
            print(f"   {event['log']}", flush=True)

    migrations.upgrade()
    outcome = retrain(service_env(), show, settings().rasa_replicas)
    if args.json:
        print(json.dumps({"result": outcome.as_json()}, ensure_ascii=False), flush=True)
    else:
        print(f"\n{outcome.outcome}: {outcome.message}")
        for reason in outcome.reasons:
            print(f"  - {reason}")
        if outcome.candidate:
            c = outcome.candidate
            print(f"candidate {c['model']}: accuracy {c['accuracy']:.3f}, macro-F1 {c['macro_f1']:.3f}")
        if outcome.report:
            from bot.trainer.pipeline import reports_dir

            print(f"report: {reports_dir() / outcome.report}")
    return outcome.exit_code


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Evaluate a model on both test sets beside the plain TF-IDF + LR peer; with --against, apply the gate."""
    from bot.trainer.evaluation import (
        CORE_INTENTS,
        REAL_TEST_SET,
        TEST_SET,
        best_threshold,
        evaluate,
        gate,
        peer,
        write_report,
    )
    from bot.training import model_path

    candidate_path = Path(args.model) if args.model else model_path()
    if not candidate_path.exists():
        print(f"error: no model at {candidate_path} (train one with ./shop train)", file=sys.stderr)
        return 2
    print(f"Evaluating {candidate_path.name} on the test set …", flush=True)
    candidate = evaluate(candidate_path)
    serving = None
    if args.against:
        print(f"Evaluating {Path(args.against).name} for comparison …", flush=True)
        serving = evaluate(Path(args.against))
    print("Training the TF-IDF + logistic regression peer on the same data …", flush=True)
    sets = [("real buyers", REAL_TEST_SET, candidate.real), ("self-written", TEST_SET, candidate)]
    sets = [(label, path, result) for label, path, result in sets if result is not None]
    peers = dict(zip((path for _, path, _ in sets), peer([path for _, path, _ in sets]), strict=True))
    print(f"\n{'test set':<14} {'model':<26} {'accuracy':>8} {'macro-F1':>8} {'wrong':>7} {'fallback':>8}  core F1")
    for label, path, result in sets:
        for who, shown in ((candidate_path.name[:26], result), ("TF-IDF + LR peer", peers[path])):
            core = " ".join(f"{shown.f1(i):.2f}" for i in CORE_INTENTS)
            print(
                f"{label:<14} {who:<26} {shown.accuracy:>8.3f} {shown.macro_f1:>8.3f} {shown.wrong_rate:>7.1%} "
                f"{shown.fallback_rate:>8.1%}  {core}"
            )
    if candidate.real is not None and candidate.real.curve:
        threshold, wrong, fallback = best_threshold(candidate.real.curve)
        print(
            f"\nfallback threshold with the lowest cost on real buyers: {threshold:.2f} (wrong {wrong:.1%}, fallback {fallback:.1%})"
        )
    verdict = gate(candidate, serving)
    report = Path(args.report)
    picture = write_report(candidate, serving, report)
    print("gate: " + ("passed" if verdict.passed else "refused: " + "; ".join(verdict.reasons)))
    print(f"report: {report} (confusion matrix also in {picture})")
    return 0 if verdict.passed else 1


def cmd_db_revision(args: argparse.Namespace) -> int:
    """Write the migration for what changed in bot/models.py (for developers)."""
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        script = migrations.new_revision(args.message, f"sqlite:///{scratch}/schema.db")
        db.dispose_all()
    if script is None:
        print("The migrations already describe bot/models.py; nothing to write.")
        return 0
    print(
        f"Wrote {script.relative_to(Path.cwd()) if script.is_relative_to(Path.cwd()) else script}: review it, then commit it."
    )
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from bot.terminal_chat import chat

    try:
        return chat(args.buyer, args.conversation)
    except (EOFError, KeyboardInterrupt):
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init-db", help="apply schema migrations and seed the demo shop if it is empty")
    p.add_argument("--reseed", action="store_true", help="replace all shop data with the demo shop")
    p.add_argument("--now", help="reference time for the demo data (ISO format), default now")
    p.set_defaults(func=cmd_init_db)

    p = sub.add_parser("train", help="train the model if data, domain or config changed")
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("run", help="set up and start everything, print the URLs")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("handoff", help="list, show or resolve handoff tickets")
    p.add_argument("action", choices=["list", "show", "resolve"])
    p.add_argument("ticket", type=int, nargs="?")
    p.add_argument("--all", action="store_true", help="include resolved tickets")
    p.set_defaults(func=cmd_handoff)

    p = sub.add_parser("resume", help="give a conversation back to the bot")
    p.add_argument("conversation")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("nlu", help="list, add or import NLU training (or test) examples")
    nlu = p.add_subparsers(dest="action", required=True)
    q = nlu.add_parser("list", help="examples, optionally of one intent or matching a search")
    q.add_argument("intent", nargs="?")
    q.add_argument("--search")
    q = nlu.add_parser("add", help="add one example (refused if it clashes with another intent)")
    q.add_argument("intent")
    q.add_argument("text")
    q = nlu.add_parser("import", help="import intent<TAB>text rows from a TSV/CSV file, all or nothing")
    q.add_argument("file")
    for q in nlu.choices.values():
        q.add_argument("--test", action="store_true", help="the held-out test set instead of training data")
    p.set_defaults(func=cmd_nlu)

    p = sub.add_parser(
        "inbox",
        help="what the bot misunderstood in real conversations, and imported chat history: list, label, dismiss",
    )
    box = p.add_subparsers(dest="action", required=True)
    q = box.add_parser("list")
    q = box.add_parser(
        "import",
        help="load buyers' lines from a chat export (TSV, CSV or JSONL; UTF-8 or GBK) with the bot's guesses, all or nothing",
    )
    q.add_argument("file")
    q.add_argument("--source", help="where the chats come from, for rows without a source column (default: file name)")
    q = box.add_parser("label", help="add the message as an example of INTENT")
    q.add_argument("item")
    q.add_argument("intent")
    q.add_argument("--test", action="store_true", help="add it to the held-out test set instead")
    q = box.add_parser("dismiss")
    q.add_argument("item")
    p.add_argument("--limit", type=int, default=100)
    p.set_defaults(func=cmd_inbox)

    p = sub.add_parser("validate", help="check the training data: clashes between intents and rasa data validate")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser(
        "evaluate", help="evaluate a model on the test set, with the regression gate (exit 1 if refused)"
    )
    p.add_argument("--model", help="model file (default: the up-to-date model)")
    p.add_argument("--against", help="the serving model to compare with")
    p.add_argument("--report", default="results/evaluation.html", help="self-contained HTML report")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("models", help="model versions: list, activate NAME, rollback")
    versions = p.add_subparsers(dest="action", required=True)
    versions.add_parser("list")
    q = versions.add_parser("activate")
    q.add_argument("model", help="a file name from `./shop models list`")
    versions.add_parser("rollback")
    p.set_defaults(func=cmd_models)

    for command, who in (("agent-add", "an agent"), ("trainer-add", "a trainer")):
        p = sub.add_parser(command, help=f"create {who} account (password from stdin or a prompt)")
        p.add_argument("username")
        p.add_argument("--name", help="display name shown to colleagues")
        p.set_defaults(func=cmd_account)

    p = sub.add_parser(
        "retrain", help="validate, train, evaluate, activate if the gate passes (exit 0 ok, 1 refused, 2 failed)"
    )
    p.add_argument("--json", action="store_true", help="progress and result as JSON lines (for the console)")
    p.set_defaults(func=cmd_retrain)

    p = sub.add_parser("db-revision", help="write a schema migration for changes to bot/models.py (developers)")
    p.add_argument("message", help='what changed, e.g. "order: add invoice title"')
    p.set_defaults(func=cmd_db_revision)

    p = sub.add_parser("chat", help="chat with the running bot in the terminal")
    p.add_argument("--buyer", default="b0001", help="buyer id the shop page would vouch for ('' for anonymous)")
    p.add_argument("--conversation", help="conversation id to continue")
    p.set_defaults(func=cmd_chat)

    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (PolicyError, TrainingFailed, migrations.SchemaMismatch) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
