"""Rasa's own command line, with two fixes that matter for serving speed.

Measured with py-spy on a running server (per turn, one buyer):
- every action-server response is validated with `jsonschema.validate`, which
  re-checks the (fixed) schema itself on each call: about half of the time. We check
  the schema once and reuse a compiled validator. Even so, checking each event against
  the schema's 23 `oneOf` alternatives took ~5 % of a turn at 50 buyers; the actions
  send the same few events again and again, so each distinct event's verdict is
  remembered (the response is still validated, and an invalid one fails as before).
- every stored event is turned back into an object by scanning all Event subclasses
  by name: a fifth of the rest. The set of event types is fixed once Rasa is
  imported, so the name lookup is cached.
- the rule policy parses each learned rule from its JSON key again for every rule,
  every past turn and every prediction: ~2 % of a turn at 50 buyers (a fifth of the
  rule matching). A model's rule keys never change, so the parse is cached.
- every call to the action server opens a new HTTP client session and TCP
  connection (and the action server accepts one), ~10 % of a turn at 50 buyers. One
  keep-alive session per endpoint is reused instead.
- each NLU prediction builds "fake" (empty) features for missing attributes by
  deep-copying a real feature matrix and then replacing it with an empty one: ~3 % of
  a turn at 50 buyers (py-spy). The copy now leaves the matrix out.
- the rule policy compares every state of the whole conversation with every rule, twice
  per prediction, although no rule is longer than a few states and a rule shorter than
  the states compared so far applies whatever came before. The comparison now stops
  where the longest rule ends: Rasa CPU per turn at 50 buyers 10.3 → 9.7 ms.
- DIET's prediction graph is a `tf.function`, which checks every input against its
  signature on each call. Once traced, the graph's concrete function is called with the
  same tensors instead: 10.3 → 8.7 ms per turn (both fixes: 8.4–9.0 ms, three runs).
Everything else is Rasa unchanged: `python -m bot.rasa_server run …` takes the same
arguments as `rasa run …`.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
from types import TracebackType
from typing import Any

import aiohttp
import numpy as np
import scipy.sparse
import tensorflow as tf
from jsonschema import ValidationError, validators
from keras.utils import tf_utils
from rasa.core.actions.action import RemoteAction
from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT
from rasa.core.policies.rule_policy import RulePolicy
from rasa.shared.constants import DIAGNOSTIC_DATA
from rasa.shared.core.domain import State
from rasa.shared.core.events import Event
from rasa.shared.nlu.training_data.features import Features
from rasa.utils.endpoints import EndpointConfig
from rasa.utils.tensorflow import model_data_utils
from rasa.utils.tensorflow.models import RasaModel

# Shorter than the action server's keep-alive (Sanic: 5 s), so a connection is never
# reused just as the server closes it.
KEEP_ALIVE_SECONDS = 2.0


@functools.lru_cache(maxsize=1)
def _response_validator() -> Any:
    schema = RemoteAction.action_response_format_spec()
    validator_class = validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


@functools.lru_cache(maxsize=1)
def _event_validator() -> Any:
    validator = _response_validator()
    return type(validator)(validator.schema["properties"]["events"]["items"])


_valid_events: dict[str, bool] = {}


def _event_is_valid(event: Any) -> bool:
    """The schema's verdict on one event, remembered by its JSON text (which tells apart every value the schema does)."""
    try:
        key = json.dumps(event, sort_keys=True)
    except (TypeError, ValueError):
        return False  # not JSON: let the full validation say why
    valid = _valid_events.get(key)
    if valid is None:
        if len(_valid_events) >= 10_000:
            _valid_events.clear()
        valid = _valid_events[key] = _event_validator().is_valid(event)
    return valid


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    events = result.get("events") if isinstance(result, dict) else None
    if type(events) is list and all(_event_is_valid(event) for event in events):
        # The schema's properties are independent: valid events plus the rest valid is
        # the same verdict as validating the whole response.
        result = {key: value for key, value in result.items() if key != "events"}
    try:
        _response_validator().validate(result)
    except ValidationError as error:
        error.message += ". Failed to validate the action server's response."
        raise
    return True


class _KeptSession:
    """`async with` gives the endpoint's long-lived client session and leaves it open."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self.session

    async def __aexit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        return None


def _endpoint_session(self: EndpointConfig) -> _KeptSession:
    loop = asyncio.get_running_loop()
    kept: tuple[asyncio.AbstractEventLoop, aiohttp.ClientSession] | None = getattr(self, "_kept_session", None)
    if kept is None or kept[0] is not loop or kept[1].closed:
        auth = aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"]) if self.basic_auth else None
        session = aiohttp.ClientSession(
            headers=self.headers,
            auth=auth,
            timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
            connector=aiohttp.TCPConnector(keepalive_timeout=KEEP_ALIVE_SECONDS),
        )
        kept = (loop, session)
        self._kept_session = kept  # type: ignore[attr-defined]
    return _KeptSession(kept[1])


def _create_fake_features(all_features: list[list[list[Features]]]) -> list[Features]:
    """Rasa's `_create_fake_features` without deep-copying each feature matrix it then replaces by an empty one."""
    example_features = next(
        iter(
            [
                list_of_features
                for list_of_list_of_features in all_features
                for list_of_features in list_of_list_of_features
                if list_of_features is not None
            ]
        )
    )
    fake_features = []
    for features in example_features:
        matrix, dense, sparse = features.features, features.is_dense(), features.is_sparse()
        features.features = None  # not copied: replaced below
        try:
            new_features = copy.deepcopy(features)
        finally:
            features.features = matrix
        if dense:
            new_features.features = np.zeros((0, matrix.shape[-1]), matrix.dtype)
        if sparse:
            new_features.features = scipy.sparse.coo_matrix((0, matrix.shape[-1]), matrix.dtype)
        fake_features.append(new_features)
    return fake_features


def _get_possible_keys(self: RulePolicy, lookup: dict[str, str], states: list[State]) -> set[str]:
    """Rasa's `_get_possible_keys`, looking back only as far as the longest rule reaches.

    `_is_rule_applicable` holds for every turn index at or beyond a rule's length, so the
    older states cannot remove a key: the result is the same set.
    """
    possible_keys = set(lookup)
    reach = max((len(self._rule_key_to_state(key)) for key in possible_keys), default=0)
    for i, state in enumerate(reversed(states[-reach:] if reach else [])):
        possible_keys = {key for key in possible_keys if self._is_rule_applicable(key, i, state)}
    return possible_keys


_rasa_predict = RasaModel._rasa_predict


def _predict_with_concrete_function(self: RasaModel, batch_in: tuple[np.ndarray, ...]) -> dict[str, Any]:
    """Rasa's `_rasa_predict`, calling the traced graph's concrete function once Rasa has traced it."""
    concrete = getattr(self, "_shop_concrete_predict", None)
    if concrete is None:
        if self._run_eagerly or not self.prepared_for_prediction or self._tf_predict_step is None:
            return _rasa_predict(self, batch_in)  # Rasa prepares and traces on this first call
        concrete = self._shop_concrete_predict = self._tf_predict_step.get_concrete_function()
    self._training = False
    # The same flat tensors the tf.function would pass, in its signature's order and dtypes.
    tensors = [tf.convert_to_tensor(array) for array in tf.nest.flatten(batch_in)]
    outputs = tf_utils.sync_to_numpy_or_python_type(concrete._call_flat(tensors, concrete.captured_inputs))
    if DIAGNOSTIC_DATA in outputs:
        outputs[DIAGNOSTIC_DATA] = self._empty_lists_to_none_in_dict(outputs[DIAGNOSTIC_DATA])
    return outputs


def main() -> None:
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    # Callers only read the parsed states; bounded because each swapped-in model brings its own keys.
    RulePolicy._rule_key_to_state = staticmethod(functools.lru_cache(maxsize=65536)(RulePolicy._rule_key_to_state))  # type: ignore[method-assign]
    EndpointConfig.session = _endpoint_session  # type: ignore[method-assign,assignment]
    Event.resolve_by_type = staticmethod(functools.lru_cache(maxsize=None)(Event.resolve_by_type))  # type: ignore[method-assign]
    model_data_utils._create_fake_features = _create_fake_features
    RulePolicy._get_possible_keys = _get_possible_keys  # type: ignore[method-assign]
    RasaModel._rasa_predict = _predict_with_concrete_function  # type: ignore[method-assign]
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
