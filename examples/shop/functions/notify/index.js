exports.handler = async (event) => { console.log("notify", event); return event; };
