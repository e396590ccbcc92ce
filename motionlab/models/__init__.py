"""Models: ``<name>_model.py`` defines ``<Name>Model(BaseModel)``; found by name through the registry."""

from motionlab import registry


def find_model_using_name(name: str):
    return registry.find_class(registry.MODELS, name)


def registered_models() -> dict:
    return registry.registered(registry.MODELS)
