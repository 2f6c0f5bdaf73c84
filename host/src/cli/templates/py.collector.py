"""{{name}}: a Gatehouse evidence collector in Python. It returns one
statement naming the version and `[config] builder`; the host signs it.

Build: componentize-py -d wit -w gatehouse:plugin/collector@0.1.0 componentize app -o {{wasm}}
"""

import json

import wit_world
from componentize_py_types import Err
from wit_world.imports import host
from wit_world.imports.types import Error, Statement


class WitWorld(wit_world.WitWorld):
    def collect(self, context):
        builder = host.config("builder")
        if not isinstance(builder, host.ConfigValue_Text):
            raise Err(Error(code="config", message="set `builder` in [config]"))
        host.log(host.Level.INFO, f"collected build info for {context.application} {context.version}")
        predicate = {"builder": builder.value, "version": context.version}
        return [
            Statement(
                predicate_type="https://example.com/{{name}}/build-info/v1",
                predicate=json.dumps(predicate),
            )
        ]
