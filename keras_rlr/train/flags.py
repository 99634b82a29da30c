"""`train.py`'s flags, generated from the run schema. Imports no TensorFlow.

Each field of `keras_rlr.train.config` with `flag=True` becomes an absl flag of
the same name, default and help, with its bounds, choices and check; `values`
reads them back into a `Config` and a `Launch`. The sweep runner uses
`parse_flagfile` to resolve a (nested) flagfile with absl's own parser.

absl reads a flagfile named inside another (`--flagfile=configs/base.cfg`)
relative to the working directory, not to the file that names it;
`console.flagfile_error` says which file named one that cannot be opened.
"""

from absl import flags

from keras_rlr.train import config as schema
from keras_rlr.train import console

# Checks that read TFDS's registry (most of a second): run by `check_deferred`
# after absl's parse, so that a missing or refused flag is reported without it.
DEFERRED_CHECKS = ("dataset",)


def define(flag_values=flags.FLAGS, checks=True):
    """Defines one flag per schema field on `flag_values`, with the fields'
    checks unless `checks=False` (those of `DEFERRED_CHECKS`: see
    `check_deferred`)."""
    for field in schema.fields():
        if not field.flag:
            continue
        common = dict(flag_values=flag_values)
        if field.choices:
            flags.DEFINE_enum(
                field.name, field.default, field.choices, field.help, **common
            )
        elif field.type is bool:
            flags.DEFINE_bool(field.name, field.default, field.help, **common)
        elif field.type in (int, float):
            define_number = (
                flags.DEFINE_integer if field.type is int else flags.DEFINE_float
            )
            define_number(
                field.name,
                field.default,
                field.help,
                lower_bound=field.lower,
                upper_bound=field.upper,
                **common,
            )
        else:
            flags.DEFINE_string(field.name, field.default, field.help, **common)
        if field.check and checks and field.name not in DEFERRED_CHECKS:
            predicate, message = field.check
            flags.register_validator(
                field.name,
                _validator(predicate),
                message=message,
                flag_values=flag_values,
            )


def _validator(predicate):
    """`predicate` for absl: a `ValueError` it raises becomes the message."""

    def check(value):
        try:
            return predicate(value)
        except ValueError as error:
            raise flags.ValidationError(str(error)) from None

    return check


def check_deferred(flag_values=flags.FLAGS):
    """Runs the checks of `DEFERRED_CHECKS` on parsed flags.

    Raises:
        flags.IllegalFlagValueError: `flag --name=value: why`, as absl's own.
    """
    for name in DEFERRED_CHECKS:
        predicate, message = schema.field(name).check
        value = flag_values[name].value
        try:
            ok = predicate(value)
        except ValueError as error:
            ok, message = False, str(error)
        if not ok:
            raise flags.IllegalFlagValueError(f"flag --{name}={value}: {message}")


def names():
    """The names of the flags `define` creates, in schema order."""
    return [field.name for field in schema.fields() if field.flag]


def values(flag_values=flags.FLAGS):
    """`(Config, Launch)` from parsed flags (fields without a flag: defaults)."""
    return schema.from_values({name: flag_values[name].value for name in names()})


def flagfile_text(flag_values=flags.FLAGS):
    """The parsed flags as a flagfile that reproduces the run (None values left
    out)."""
    return "".join(
        f"{flag_values[name].serialize()}\n"
        for name in names()
        if flag_values[name].value is not None
    )


def parse_flagfile(path, extra=()):
    """Resolves the flagfile `path` (nested `--flagfile` lines included) and
    the `extra` arguments after it, with absl's parser on fresh flags.

    Returns:
        A `FlagValues`: `[name].value` is the resolved value, `[name].present`
        whether the files or `extra` set it.

    Raises:
        flags.Error: an unknown flag or a value its flag refuses.
    """
    flag_values = flags.FlagValues()
    define(flag_values, checks=False)
    args = [f"--flagfile={path}", *extra]
    try:
        flag_values(["flagfile_parser", *args], known_only=False)
    except flags.CantOpenFlagFileError as error:
        raise flags.CantOpenFlagFileError(console.flagfile_error(error, args)) from None
    return flag_values
