# Sphinx configuration of the collection's documentation site.
#
# Built by tools/build-docs, which lays out a temporary source directory:
#   this directory's files (index, guide pages);
#   collection/  the RST that antsibull-docs writes for the roles and plugins;
#   _repo        a symlink to the repository, from which the guide pages include the
#                sections of README.md and SECURITY.md (MyST {include}); never a source.
# Started from `antsibull-docs sphinx-init` (2.28.0), minus intersphinx: the build needs
# no network.

project = 'unopinionated.jupyterhub'
copyright = 'unopinionated.jupyterhub developers'
title = 'unopinionated.jupyterhub'
html_short_title = 'unopinionated.jupyterhub'

extensions = ['myst_parser', 'sphinx_antsibull_ext']
source_suffix = {'.rst': 'restructuredtext', '.md': 'markdown'}
exclude_patterns = ['_repo', '_build']

pygments_style = 'ansible'
highlight_language = 'YAML+Jinja'

html_theme = 'sphinx_ansible_theme'
# No top bar of links to Ansible's blog, forum and docs; the logo leads to this site's index.
html_theme_options = {'topbar_links': {}, 'documentation_home_url': 'index.html'}
html_show_sphinx = False
html_use_smartypants = True
html_use_modindex = False
html_use_index = False
html_copy_source = False
display_version = False

default_role = 'any'
nitpicky = True

# No intersphinx (it would download objects.inv files at every build). The RST that
# antsibull-docs generates refers to these labels of the Ansible docsite; they, and only
# they, resolve to its pages here. Any other unresolved reference stays a warning (an error
# with -W).
ANSIBLE_DOCSITE = 'https://docs.ansible.com/projects/ansible/devel/'
ANSIBLE_DOCSITE_LABELS = {
    'action_plugins': ('plugins/action.html#action-plugins', 'Action plugins'),
    'common_return_values': (
        'reference_appendices/common_return_values.html#common-return-values',
        'Return Values',
    ),
    'ansible_configuration_settings': (
        'reference_appendices/config.html#ansible-configuration-settings',
        'Ansible Configuration Settings',
    ),
}


def _ansible_docsite_label(app, env, node, contnode):
    if node.get('refdomain') != 'std' or node.get('reftype') != 'ref':
        return None
    target = ANSIBLE_DOCSITE_LABELS.get(node.get('reftarget'))
    if target is None:
        return None
    from docutils import nodes

    path, text = target
    ref = nodes.reference('', '', internal=False, refuri=ANSIBLE_DOCSITE + path)
    ref += nodes.inline(text, text) if not node.get('refexplicit') else contnode
    return ref


def setup(app):
    app.connect('missing-reference', _ansible_docsite_label)
