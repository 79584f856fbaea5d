exports.init = async () => {};
exports.handler = async (event) => ({ ok: true, notify: process.env.NOTIFY_URN, event });
