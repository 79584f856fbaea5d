import json
import os


def handler(event, context):
    return {"statusCode": 200, "body": json.dumps({"message": os.environ.get("GREETING", "hi"), "event": event})}
