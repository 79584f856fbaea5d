def handler(event, context):
    print("audit", event)
    return event
