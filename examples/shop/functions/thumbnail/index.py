from PIL import Image  # provided by the `pillow` dependency


def handler(event, context):
    return {"thumbnail": event.get("key"), "size": Image.new("RGB", (1, 1)).size}
