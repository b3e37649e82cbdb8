"""A real Home Assistant core for the tests, run by the HA virtualenv (`.venv-ha`), not by pytest's.

    python ha_core.py CONFIG_DIR BROKER_HOST BROKER_PORT STATES_FILE

Runs HA's own bootstrap on CONFIG_DIR (the test writes its configuration.yaml), adds the MQTT
integration through its config flow, as a user does in the UI, and keeps STATES_FILE (JSON,
replaced whole) up to date with what HA shows: every state, and the entity registry's
unique id -> entity id of the MQTT entities. The test waits on that file.

Two of bootstrap's sets are narrowed: the frontend (a 50 MB package) and the other default
integrations are not installed, and without the frontend HA would start in recovery mode,
without MQTT. Nothing else of HA is changed.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from homeassistant import bootstrap, runner
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import entity_registry

bootstrap.CRITICAL_INTEGRATIONS = set()
bootstrap.DEFAULT_INTEGRATIONS = {"logger"}

#: How often a changed state is written out: fast enough for a test, few writes in a burst.
WRITE_EVERY_SECONDS = 0.05


def snapshot(hass: HomeAssistant) -> str:
    registry = entity_registry.async_get(hass)
    return json.dumps({
        "states": {s.entity_id: {"state": s.state, "attributes": dict(s.attributes)} for s in hass.states.async_all()},
        "entities": {e.unique_id: e.entity_id for e in registry.entities.values() if e.platform == "mqtt"},
        "mqtt": bool(hass.config_entries.async_entries("mqtt")),
    }, default=str, ensure_ascii=False)


def write(path: Path, text: str) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(text)
    partial.replace(path)


async def add_mqtt(hass: HomeAssistant, host: str, port: int) -> None:
    result: dict[str, Any] = await hass.config_entries.flow.async_init("mqtt", context={"source": "user"})
    while result["type"] in ("form", "menu"):
        if result.get("errors"):
            raise SystemExit(f"the MQTT config flow refused the broker: {result['errors']}")
        answer = {"next_step_id": "broker"} if result["type"] == "menu" else {"broker": host, "port": port}
        result = await hass.config_entries.flow.async_configure(result["flow_id"], answer)
    if result["type"] != "create_entry":
        raise SystemExit(f"the MQTT config flow ended with {result}")


async def keep_written(hass: HomeAssistant, path: Path, changed: asyncio.Event) -> None:
    while True:
        await changed.wait()
        changed.clear()
        await hass.async_add_executor_job(write, path, snapshot(hass))
        await asyncio.sleep(WRITE_EVERY_SECONDS)


async def main(config_dir: str, host: str, port: int, states: Path) -> int:
    hass = await bootstrap.async_setup_hass(runner.RuntimeConfig(config_dir=config_dir, skip_pip=True))
    if hass is None:
        return 1
    changed = asyncio.Event()

    def on_change(event: Event) -> None:
        changed.set()

    hass.bus.async_listen(EVENT_STATE_CHANGED, on_change)
    hass.bus.async_listen(entity_registry.EVENT_ENTITY_REGISTRY_UPDATED, on_change)

    async def after_start() -> None:
        await hass.async_block_till_done()
        await add_mqtt(hass, host, port)
        changed.set()

    hass.async_create_background_task(keep_written(hass, states, changed), "write states")
    hass.async_create_task(after_start())
    return await hass.async_run()


if __name__ == "__main__":
    asyncio.set_event_loop_policy(runner.HassEventLoopPolicy(False))
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))))
