def handler(event, context):
    return {"version": context.getVersion(), "event": event}
