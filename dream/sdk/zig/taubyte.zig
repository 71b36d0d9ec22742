//! dream's Zig SDK for Taubyte functions (`const taubyte = @import("taubyte");`).
//! Handlers are `export fn name(event: u32) u32`; build with the dream/zig-wasi image.

/// Raw host imports (module taubyte/sdk); results are errno codes, 0 = success.
pub const sdk = struct {
    pub extern "taubyte/sdk" fn getEventType(ev: u32, type_ptr: *u32) void;
    pub extern "taubyte/sdk" fn getHttpEventMethodSize(ev: u32, size: *u32) u32;
    pub extern "taubyte/sdk" fn getHttpEventMethod(ev: u32, buf: [*]u8, size: u32) u32;
    pub extern "taubyte/sdk" fn getHttpEventPathSize(ev: u32, size: *u32) u32;
    pub extern "taubyte/sdk" fn getHttpEventPath(ev: u32, buf: [*]u8, size: u32) u32;
    pub extern "taubyte/sdk" fn getHttpEventHeadersSize(ev: u32, size: *u32, key: [*]const u8, key_len: u32) u32;
    pub extern "taubyte/sdk" fn getHttpEventHeaders(ev: u32, key: [*]const u8, key_len: u32, buf: [*]u8, size: u32) u32;
    pub extern "taubyte/sdk" fn getHttpEventQueryValueByNameSize(ev: u32, size: *u32, key: [*]const u8, key_len: u32) u32;
    pub extern "taubyte/sdk" fn getHttpEventQueryValueByName(ev: u32, key: [*]const u8, key_len: u32, buf: [*]u8, size: u32) u32;
    pub extern "taubyte/sdk" fn readHttpEventBody(ev: u32, buf: [*]u8, size: u32, count: *u32) u32;
    pub extern "taubyte/sdk" fn closeHttpEventBody(ev: u32) u32;
    pub extern "taubyte/sdk" fn eventHttpHeaderAdd(ev: u32, key: [*]const u8, key_len: u32, val: [*]const u8, val_len: u32) u32;
    pub extern "taubyte/sdk" fn eventHttpRetCode(ev: u32, code: u32) u32;
    pub extern "taubyte/sdk" fn eventHttpWrite(ev: u32, buf: [*]const u8, size: u32, n: *u32) u32;
    pub extern "taubyte/sdk" fn eventHttpRedirect(ev: u32, url: [*]const u8, url_len: u32, code: u32) u32;
};

pub const Error = error{ HostError, NotHttp, BufferTooSmall };

pub const EventType = enum(u32) { undefined = 0, http = 1, pubsub = 2, p2p = 3, _ };

fn check(code: u32) Error!void {
    if (code != 0) return Error.HostError;
}

pub const Event = struct {
    id: u32,

    pub fn eventType(self: Event) EventType {
        var t: u32 = 0;
        sdk.getEventType(self.id, &t);
        return @enumFromInt(t);
    }

    pub fn http(self: Event) Error!HttpEvent {
        if (self.eventType() != .http) return Error.NotHttp;
        return .{ .id = self.id };
    }
};

pub const HttpEvent = struct {
    id: u32,

    pub fn write(self: HttpEvent, data: []const u8) Error!u32 {
        var n: u32 = 0;
        try check(sdk.eventHttpWrite(self.id, data.ptr, @intCast(data.len), &n));
        return n;
    }

    pub fn returnCode(self: HttpEvent, code: u32) Error!void {
        try check(sdk.eventHttpRetCode(self.id, code));
    }

    pub fn setHeader(self: HttpEvent, key: []const u8, value: []const u8) Error!void {
        try check(sdk.eventHttpHeaderAdd(self.id, key.ptr, @intCast(key.len), value.ptr, @intCast(value.len)));
    }

    /// Copies the method into buf and returns the filled part.
    pub fn method(self: HttpEvent, buf: []u8) Error![]u8 {
        var size: u32 = 0;
        try check(sdk.getHttpEventMethodSize(self.id, &size));
        if (size > buf.len) return Error.BufferTooSmall;
        try check(sdk.getHttpEventMethod(self.id, buf.ptr, size));
        return buf[0..size];
    }

    pub fn path(self: HttpEvent, buf: []u8) Error![]u8 {
        var size: u32 = 0;
        try check(sdk.getHttpEventPathSize(self.id, &size));
        if (size > buf.len) return Error.BufferTooSmall;
        try check(sdk.getHttpEventPath(self.id, buf.ptr, size));
        return buf[0..size];
    }

    /// First value of a request header (empty when absent).
    pub fn header(self: HttpEvent, key: []const u8, buf: []u8) Error![]u8 {
        var size: u32 = 0;
        try check(sdk.getHttpEventHeadersSize(self.id, &size, key.ptr, @intCast(key.len)));
        if (size > buf.len) return Error.BufferTooSmall;
        if (size > 0) try check(sdk.getHttpEventHeaders(self.id, key.ptr, @intCast(key.len), buf.ptr, size));
        return buf[0..size];
    }

    /// First value of a query parameter (empty when absent).
    pub fn query(self: HttpEvent, key: []const u8, buf: []u8) Error![]u8 {
        var size: u32 = 0;
        try check(sdk.getHttpEventQueryValueByNameSize(self.id, &size, key.ptr, @intCast(key.len)));
        if (size > buf.len) return Error.BufferTooSmall;
        if (size > 0) try check(sdk.getHttpEventQueryValueByName(self.id, key.ptr, @intCast(key.len), buf.ptr, size));
        return buf[0..size];
    }

    /// Reads the request body into buf (up to its length).
    pub fn body(self: HttpEvent, buf: []u8) Error![]u8 {
        var total: usize = 0;
        while (total < buf.len) {
            var n: u32 = 0;
            const code = sdk.readHttpEventBody(self.id, buf.ptr + total, @intCast(buf.len - total), &n);
            total += n;
            if (code == 8 or n == 0) break; // 8 = EOF
            try check(code);
        }
        _ = sdk.closeHttpEventBody(self.id);
        return buf[0..total];
    }

    pub fn redirect(self: HttpEvent, url: []const u8, code: u32) Error!void {
        try check(sdk.eventHttpRedirect(self.id, url.ptr, @intCast(url.len), code));
    }
};
