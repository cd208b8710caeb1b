"""{{ cookiecutter.project_name | trim }}: {{ cookiecutter.description }}."""
