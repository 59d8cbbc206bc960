# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""The configuration trial: load a staged hub configuration as JupyterHub would.

Not imported by the hub_lifecycle module: it sends this file's source to the hub
environment's Python (``python -c SOURCE STAGED``), run as the hub's user in the staged
copy, because that is where JupyterHub and the configured classes are installed. Prints
one JSON object: ``{"error": {"file", "line", "message", "where"}}`` or ``{"unknown": [...]}``.
Only the standard library at the top: ansible-test imports this file where no JupyterHub is.
"""

from __future__ import absolute_import, division, print_function

import glob
import json
import os
import re
import sys
import traceback

__metaclass__ = type


class Failed(Exception):
    """The configuration does not load: where, and why."""

    def __init__(self, path, line, message, where=None):
        super(Failed, self).__init__(message)
        self.path, self.line, self.message, self.where = path, line, message, where


def config_files(staged):
    """The base configuration, then the fragments in the order JupyterHub's base config loads them."""
    return [os.path.join(staged, "jupyterhub_config.py")] + sorted(glob.glob(os.path.join(staged, "config.d", "*.py")))


def setters(files, attribute):
    """The files that assign ``.attribute = ...``, in load order."""
    found = []
    for path in files:
        with open(path) as f:
            if re.search(r"\.%s\s*=" % re.escape(attribute), f.read()):
                found.append(path)
    return found


def compile_all(files):
    for path in files:
        with open(path, "rb") as f:
            source = f.read()
        try:
            compile(source, path, "exec", dont_inherit=True)
        except SyntaxError as e:  # the message only: the line itself may hold a secret
            raise Failed(path, e.lineno, "SyntaxError: %s" % e.msg)


def load(files):
    """The JupyterHub application with the configuration loaded, and its configured classes."""
    from jupyterhub.app import JupyterHub

    app = JupyterHub()
    # Undecorated: traitlets' catch_config_error would log and exit instead of raising.
    load_config_file = getattr(JupyterHub.load_config_file, "__wrapped__", JupyterHub.load_config_file)
    try:
        load_config_file(app, files[0])
        return app, [app.spawner_class, app.authenticator_class, app.proxy_class]
    except (Exception, SystemExit) as e:
        frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename in files]
        message = "%s: %s" % (type(e).__name__, e)
        if frames:
            raise Failed(frames[-1].filename, frames[-1].lineno, message)
        # A trait of the JupyterHub application: name the last file that sets it.
        trait = re.search(r"The '(\w+)' trait", str(e))
        found = setters(files, trait.group(1)) if trait else []
        raise Failed(found[-1] if found else None, None, message)


def unknown_options(app, classes, files):
    """``Class.option`` the configuration sets that no configured class knows; a value a trait refuses fails."""
    from traitlets import TraitError

    unknown = []
    for key in (app.config["JupyterHub"] if "JupyterHub" in app.config else {}):
        if key not in app.traits(config=True):
            unknown.append("JupyterHub.%s" % key)
    for cls in classes:
        traits = cls.class_traits(config=True)
        instance = cls.__new__(cls)
        for klass in cls.mro():
            if klass.__name__ not in app.config or klass.__name__ in ("object", "JupyterHub"):
                continue
            for key, value in app.config[klass.__name__].items():
                if key not in traits:
                    unknown.append("%s.%s" % (klass.__name__, key))
                    continue
                if type(value).__name__ == "LazyConfigValue":
                    continue
                try:
                    traits[key].validate(instance, value)
                except TraitError as e:
                    found = setters(files, key)
                    raise Failed(found[-1] if found else None, None, "TraitError: %s" % e)
    return sorted(set(unknown))


def check_database(app):
    """A database server (hub_db_url) must answer; its errors never show the password."""
    if app.db_url.startswith("sqlite"):
        return
    from sqlalchemy import create_engine, make_url, text

    url = make_url(app.db_url)
    try:
        engine = create_engine(app.db_url, **app.db_kwargs)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as e:
        message = "%s: %s" % (type(e).__name__, str(e).split("\n(Background on this error", maxsplit=1)[0])
        if url.password:
            message = message.replace(url.password, "[password]")
        raise Failed(None, None, message, where="the database of hub_db_url (%s)" % url.render_as_string())


def check_templates(app, staged):
    """Compile the site's page templates as JupyterHub would (it compiles them only when a page is asked for).

    A template of this run is staged under ``staged/templates/ORIGINAL/PATH`` and read before the
    host's; every template it names (extends, include, import) must exist. The stock ones are not compiled.
    """
    from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader, TemplateError, meta
    from jupyterhub._data import DATA_FILES_PATH

    stock = os.path.join(DATA_FILES_PATH, "templates")
    site = [path for path in app.template_paths if os.path.abspath(path) != os.path.abspath(stock)]
    search = []
    for path in site:
        search += [os.path.join(staged, "templates", path.lstrip("/")), path]
    loader = ChoiceLoader([PrefixLoader({"templates": FileSystemLoader([stock])}, "/"),
                           FileSystemLoader(search + [stock])])
    env = Environment(loader=loader, autoescape=True, enable_async=True)
    names = set()
    for path in search:
        for directory, _dirs, found in os.walk(path):
            names.update(os.path.relpath(os.path.join(directory, name), path) for name in found
                         if name.endswith(".html"))
    for name in sorted(names):
        source, filename, _uptodate = loader.get_source(env, name)
        try:
            env.get_template(name)
            for other in meta.find_referenced_templates(env.parse(source)):
                if other is not None:
                    env.get_template(other)
        except TemplateError as e:
            where = filename if filename.startswith(staged) else None
            raise Failed(where, getattr(e, "lineno", None), "%s in the template %s: %s" % (type(e).__name__, name, e),
                         where=None if where else filename)


def trial(staged):
    """The outcome of loading the configuration staged in ``staged``, as a JSON-ready dict."""
    files = config_files(staged)
    try:
        compile_all(files)
        app, classes = load(files)
        unknown = unknown_options(app, classes, files)
        check_database(app)
        check_templates(app, staged)
    except Failed as failure:
        path = failure.path
        if path and path.startswith(os.path.join(staged, "templates") + os.sep):
            path = "/" + os.path.relpath(path, os.path.join(staged, "templates"))
        return {"error": {"file": os.path.relpath(path, staged) if path and path.startswith(staged) else path,
                          "line": failure.line, "message": failure.message[:500], "where": failure.where}}
    return {"unknown": unknown}


if __name__ == "__main__":
    sys.stdout.write(json.dumps(trial(sys.argv[1])) + "\n")
