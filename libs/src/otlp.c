/* OTLP span records, and a batch of them encoded as OTLP/HTTP protobuf; see ev/otlp.h. */
#include "ev/otlp.h"
#include "ev/utf8.h"

#include "otlp_trace.pb-c.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* --- a record's strings ------------------------------------------------------------------
 * Every string of a record is appended, NUL-terminated, to one pool and named by its offset,
 * so offsets stay valid when the pool moves. They become pointers only when the record is
 * encoded, after it has ended. The pool starts in the record itself (most spans' strings fit:
 * no allocation of their own) and moves to the heap when it outgrows that. */

#define INLINE_STRINGS 768
#define INLINE_ATTRIBUTES 16

typedef struct {
    char *p; /* inline_bytes, or a heap buffer (owned) once grown */
    size_t len, cap;
    char inline_bytes[INLINE_STRINGS];
} string_pool;

#define NO_STRING ((size_t)-1)

static bool pool_reserve(string_pool *sp, size_t more)
{
    if (sp->len + more <= sp->cap)
        return true;
    size_t cap = sp->cap * 2;
    while (cap < sp->len + more)
        cap *= 2;
    char *grown = malloc(cap);
    if (!grown)
        return false;
    memcpy(grown, sp->p, sp->len);
    if (sp->p != sp->inline_bytes)
        free(sp->p);
    sp->p = grown;
    sp->cap = cap;
    return true;
}

/* Appends text (NULL as "") with every byte that does not start a valid UTF-8 character
 * replaced by '?'. Returns its offset, NO_STRING when out of memory. */
static size_t pool_add(string_pool *sp, const char *text)
{
    const char *v = text ? text : "";
    size_t n = strlen(v);
    if (!pool_reserve(sp, n + 1))
        return NO_STRING;
    size_t at = sp->len;
    char *out = sp->p + at;
    for (size_t i = 0; i < n;) {
        size_t run = i; /* ASCII, the common case, goes in runs */
        while (run < n && (unsigned char)v[run] < 0x80)
            run++;
        memcpy(out, v + i, run - i);
        out += run - i;
        if (run == n)
            break;
        size_t len = ev_utf8_char_len(v + run, n - run);
        if (len == 0) {
            *out++ = '?';
            len = 1;
        } else {
            memcpy(out, v + run, len);
            out += len;
        }
        i = run + len;
    }
    *out++ = '\0';
    sp->len = (size_t)(out - sp->p);
    return at;
}

/* --- records -------------------------------------------------------------------------------- */

typedef struct {
    size_t key;  /* offset in the pool */
    size_t text; /* offset of a string value; NO_STRING for an integer */
    int64_t number;
} attribute;

typedef struct {
    uint64_t time_ns;
    size_t name;
    attribute attributes[2];
    size_t attribute_count;
} event;

typedef struct {
    uint8_t trace_id[16];
    uint8_t span_id[8];
} link;

struct ev_otlp_span {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_span_id[8];
    bool has_parent;
    int kind;
    uint64_t start_ns, end_ns;
    size_t name;
    size_t error_message; /* NO_STRING while the status is unset */
    string_pool strings;
    attribute *attributes; /* inline_attributes, or a heap array (owned) once grown */
    size_t attribute_count, attribute_cap, attributes_dropped;
    attribute inline_attributes[INLINE_ATTRIBUTES];
    event *events;
    size_t event_count, event_cap, events_dropped;
    link *links;
    size_t link_count, link_cap, links_dropped;
    bool failed;
};

/* Makes room for one more element in a growable array; false when out of memory. */
static bool grow(void **items, size_t *cap, size_t count, size_t size, size_t first)
{
    if (count < *cap)
        return true;
    size_t n = *cap ? *cap * 2 : first;
    void *grown = realloc(*items, n * size);
    if (!grown)
        return false;
    *items = grown;
    *cap = n;
    return true;
}

/* The attributes' room for one more, moving them from the record to the heap the first time
 * they outgrow it. */
static bool grow_attributes(ev_otlp_span *s)
{
    if (s->attribute_count < s->attribute_cap)
        return true;
    if (s->attributes != s->inline_attributes)
        return grow((void **)&s->attributes, &s->attribute_cap, s->attribute_count,
                    sizeof *s->attributes, INLINE_ATTRIBUTES);
    attribute *heap = malloc(2 * s->attribute_cap * sizeof *heap);
    if (!heap)
        return false;
    memcpy(heap, s->attributes, s->attribute_count * sizeof *heap);
    s->attributes = heap;
    s->attribute_cap *= 2;
    return true;
}

ev_otlp_span *ev_otlp_span_new(const uint8_t trace_id[16], const uint8_t span_id[8],
                               const uint8_t *parent_span_id, const char *name, int kind,
                               uint64_t start_ns)
{
    ev_otlp_span *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->strings.p = s->strings.inline_bytes;
    s->strings.cap = sizeof s->strings.inline_bytes;
    s->attributes = s->inline_attributes;
    s->attribute_cap = INLINE_ATTRIBUTES;
    memcpy(s->trace_id, trace_id, sizeof s->trace_id);
    memcpy(s->span_id, span_id, sizeof s->span_id);
    if (parent_span_id) {
        memcpy(s->parent_span_id, parent_span_id, sizeof s->parent_span_id);
        s->has_parent = true;
    }
    s->kind = kind;
    s->start_ns = s->end_ns = start_ns;
    s->error_message = NO_STRING;
    s->name = pool_add(&s->strings, name);
    if (s->name == NO_STRING) {
        ev_otlp_span_free(s);
        return NULL;
    }
    return s;
}

/* Fills a with key and a string (text) or integer value; false when out of memory. */
static bool make_attribute(ev_otlp_span *s, attribute *a, const char *key, const char *text,
                           int64_t number)
{
    a->key = pool_add(&s->strings, key);
    a->text = text ? pool_add(&s->strings, text) : NO_STRING;
    a->number = number;
    return a->key != NO_STRING && (!text || a->text != NO_STRING);
}

static void add_attribute(ev_otlp_span *s, const char *key, const char *text, int64_t number)
{
    if (!s || s->failed)
        return;
    if (s->attribute_count == EV_OTLP_ATTRIBUTES_MAX) {
        s->attributes_dropped++;
        return;
    }
    if (!grow_attributes(s) ||
        !make_attribute(s, &s->attributes[s->attribute_count], key, text, number)) {
        s->failed = true;
        return;
    }
    s->attribute_count++;
}

void ev_otlp_span_attr_str(ev_otlp_span *s, const char *key, const char *value)
{
    add_attribute(s, key, value ? value : "", 0);
}

void ev_otlp_span_attr_int(ev_otlp_span *s, const char *key, int64_t value)
{
    add_attribute(s, key, NULL, value);
}

void ev_otlp_span_event(ev_otlp_span *s, uint64_t time_ns, const char *name, const char *str_key,
                        const char *str_value, const char *int_key, int64_t int_value)
{
    if (!s || s->failed)
        return;
    if (s->event_count == EV_OTLP_EVENTS_MAX) {
        s->events_dropped++;
        return;
    }
    if (!grow((void **)&s->events, &s->event_cap, s->event_count, sizeof *s->events, 2)) {
        s->failed = true;
        return;
    }
    event *e = &s->events[s->event_count];
    *e = (event){.time_ns = time_ns, .name = pool_add(&s->strings, name)};
    bool ok = e->name != NO_STRING;
    if (ok && str_key)
        ok = make_attribute(s, &e->attributes[e->attribute_count++], str_key,
                            str_value ? str_value : "", 0);
    if (ok && int_key)
        ok = make_attribute(s, &e->attributes[e->attribute_count++], int_key, NULL, int_value);
    if (!ok) {
        s->failed = true;
        return;
    }
    s->event_count++;
}

void ev_otlp_span_link(ev_otlp_span *s, const uint8_t trace_id[16], const uint8_t span_id[8])
{
    if (!s || s->failed)
        return;
    if (s->link_count == EV_OTLP_LINKS_MAX) {
        s->links_dropped++;
        return;
    }
    if (!grow((void **)&s->links, &s->link_cap, s->link_count, sizeof *s->links, 4)) {
        s->failed = true;
        return;
    }
    link *l = &s->links[s->link_count++];
    memcpy(l->trace_id, trace_id, sizeof l->trace_id);
    memcpy(l->span_id, span_id, sizeof l->span_id);
}

void ev_otlp_span_error(ev_otlp_span *s, const char *message)
{
    if (!s || s->failed)
        return;
    s->error_message = pool_add(&s->strings, message); /* an earlier one stays in the pool */
    if (s->error_message == NO_STRING)
        s->failed = true;
}

void ev_otlp_span_end(ev_otlp_span *s, uint64_t end_ns)
{
    if (s)
        s->end_ns = end_ns;
}

bool ev_otlp_span_ok(const ev_otlp_span *s)
{
    return s && !s->failed;
}

void ev_otlp_span_free(ev_otlp_span *s)
{
    if (!s)
        return;
    if (s->strings.p != s->strings.inline_bytes)
        free(s->strings.p);
    if (s->attributes != s->inline_attributes)
        free(s->attributes);
    free(s->events);
    free(s->links);
    free(s);
}

/* --- packing a span ------------------------------------------------------------------------
 * protobuf-c packs a tree of message structs that point at each other through arrays of
 * pointers. A span's tree is built in arrays sized from the record's counts, all in one
 * block, pointing into the record (ids, strings), packed, then freed: nothing is copied
 * twice, and a span costs its thread two allocations (the block and the packed bytes). */

typedef Eventify__Otlp__KeyValue key_value;
typedef Eventify__Otlp__AnyValue any_value;

typedef struct {
    Eventify__Otlp__Span span;
    Eventify__Otlp__Status status;
    key_value *kvs;
    any_value *values;
    key_value **kv_ptrs;
    size_t kv_used;
    Eventify__Otlp__Span__Event *events;
    Eventify__Otlp__Span__Event **event_ptrs;
    Eventify__Otlp__Span__Link *links;
    Eventify__Otlp__Span__Link **link_ptrs;
    char *block; /* owns every array above */
} span_tree;

/* Reserves count elements of size at the end of a block of *total bytes, aligned for any
 * type; returns their offset. */
static size_t reserve(size_t *total, size_t count, size_t size)
{
    const size_t align = _Alignof(max_align_t);
    size_t at = (*total + align - 1) / align * align;
    *total = at + count * size;
    return at;
}

/* Every element is initialized before it is used, so the block is not zeroed. */
static bool tree_alloc(span_tree *t, size_t kvs, size_t events, size_t links)
{
    size_t total = 0;
    size_t kvs_at = reserve(&total, kvs, sizeof *t->kvs);
    size_t values_at = reserve(&total, kvs, sizeof *t->values);
    size_t kv_ptrs_at = reserve(&total, kvs, sizeof(key_value *));
    size_t events_at = reserve(&total, events, sizeof *t->events);
    size_t event_ptrs_at = reserve(&total, events, sizeof(Eventify__Otlp__Span__Event *));
    size_t links_at = reserve(&total, links, sizeof *t->links);
    size_t link_ptrs_at = reserve(&total, links, sizeof(Eventify__Otlp__Span__Link *));
    if (!(t->block = malloc(total ? total : 1)))
        return false;
    t->kvs = (key_value *)(void *)(t->block + kvs_at);
    t->values = (any_value *)(void *)(t->block + values_at);
    t->kv_ptrs = (key_value **)(void *)(t->block + kv_ptrs_at);
    t->kv_used = 0;
    t->events = (Eventify__Otlp__Span__Event *)(void *)(t->block + events_at);
    t->event_ptrs = (Eventify__Otlp__Span__Event **)(void *)(t->block + event_ptrs_at);
    t->links = (Eventify__Otlp__Span__Link *)(void *)(t->block + links_at);
    t->link_ptrs = (Eventify__Otlp__Span__Link **)(void *)(t->block + link_ptrs_at);
    return true;
}

/* The span's attributes (or an event's), as a slice of the tree's key-value pointers. */
static key_value **tree_attributes(span_tree *t, const ev_otlp_span *s, const attribute *a,
                                   size_t n)
{
    key_value **first = &t->kv_ptrs[t->kv_used];
    for (size_t i = 0; i < n; i++) {
        size_t k = t->kv_used++;
        any_value *v = &t->values[k];
        eventify__otlp__any_value__init(v);
        if (a[i].text != NO_STRING) {
            v->value_case = EVENTIFY__OTLP__ANY_VALUE__VALUE_STRING_VALUE;
            v->string_value = s->strings.p + a[i].text;
        } else {
            v->value_case = EVENTIFY__OTLP__ANY_VALUE__VALUE_INT_VALUE;
            v->int_value = a[i].number;
        }
        key_value *kv = &t->kvs[k];
        eventify__otlp__key_value__init(kv);
        kv->key = s->strings.p + a[i].key;
        kv->value = v;
        t->kv_ptrs[k] = kv;
    }
    return n ? first : NULL;
}

static ProtobufCBinaryData bytes_of(const uint8_t *p, size_t n)
{
    return (ProtobufCBinaryData){.len = n, .data = (uint8_t *)p};
}

static void tree_span(span_tree *t, const ev_otlp_span *s)
{
    Eventify__Otlp__Span *pb = &t->span;
    eventify__otlp__span__init(pb);
    pb->trace_id = bytes_of(s->trace_id, sizeof s->trace_id);
    pb->span_id = bytes_of(s->span_id, sizeof s->span_id);
    if (s->has_parent)
        pb->parent_span_id = bytes_of(s->parent_span_id, sizeof s->parent_span_id);
    pb->name = s->strings.p + s->name;
    pb->kind = (Eventify__Otlp__Span__SpanKind)s->kind;
    pb->start_time_unix_nano = s->start_ns;
    pb->end_time_unix_nano = s->end_ns;
    pb->n_attributes = s->attribute_count;
    pb->attributes = tree_attributes(t, s, s->attributes, s->attribute_count);
    pb->dropped_attributes_count = (uint32_t)s->attributes_dropped;
    pb->n_events = s->event_count;
    pb->events = s->event_count ? t->event_ptrs : NULL;
    for (size_t e = 0; e < s->event_count; e++) {
        Eventify__Otlp__Span__Event *ev = &t->events[e];
        eventify__otlp__span__event__init(ev);
        ev->time_unix_nano = s->events[e].time_ns;
        ev->name = s->strings.p + s->events[e].name;
        ev->n_attributes = s->events[e].attribute_count;
        ev->attributes =
            tree_attributes(t, s, s->events[e].attributes, s->events[e].attribute_count);
        t->event_ptrs[e] = ev;
    }
    pb->dropped_events_count = (uint32_t)s->events_dropped;
    pb->n_links = s->link_count;
    pb->links = s->link_count ? t->link_ptrs : NULL;
    for (size_t l = 0; l < s->link_count; l++) {
        Eventify__Otlp__Span__Link *lk = &t->links[l];
        eventify__otlp__span__link__init(lk);
        lk->trace_id = bytes_of(s->links[l].trace_id, sizeof s->links[l].trace_id);
        lk->span_id = bytes_of(s->links[l].span_id, sizeof s->links[l].span_id);
        t->link_ptrs[l] = lk;
    }
    pb->dropped_links_count = (uint32_t)s->links_dropped;
    if (s->error_message != NO_STRING) {
        eventify__otlp__status__init(&t->status);
        t->status.code = EVENTIFY__OTLP__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
        t->status.message = s->strings.p + s->error_message;
        pb->status = &t->status;
    }
}

ev_otlp_packed *ev_otlp_span_pack(const ev_otlp_span *s)
{
    size_t kvs = s->attribute_count;
    for (size_t e = 0; e < s->event_count; e++)
        kvs += s->events[e].attribute_count;
    span_tree t;
    if (!tree_alloc(&t, kvs, s->event_count, s->link_count))
        return NULL;
    tree_span(&t, s);
    size_t len = eventify__otlp__span__get_packed_size(&t.span);
    ev_otlp_packed *packed = malloc(sizeof *packed + len);
    if (packed)
        packed->len = eventify__otlp__span__pack(&t.span, packed->bytes);
    free(t.block);
    return packed;
}

/* --- framing a request -----------------------------------------------------------------------
 * A repeated message field on the wire is its entries one after another, each a tag and a
 * length before the message's bytes. So the request is written around the packed spans as
 * they are: the envelope's few fields by hand, the resource and the scope by protobuf-c. */

/* The field numbers of libs/proto/otlp_trace.proto that enclose the spans. */
enum {
    REQUEST_RESOURCE_SPANS = 1, /* ExportTraceServiceRequest.resource_spans */
    RESOURCE_SPANS_RESOURCE = 1,
    RESOURCE_SPANS_SCOPE_SPANS = 2,
    SCOPE_SPANS_SCOPE = 1,
    SCOPE_SPANS_SPANS = 2
};

#define WIRE_LENGTH_DELIMITED 2 /* the wire type of strings, bytes and messages */

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    for (; v >= 0x80; v >>= 7)
        n++;
    return n;
}

/* The size of a length-delimited field of len bytes with a one-byte tag (field < 16). */
static size_t field_size(size_t len)
{
    return 1 + varint_len(len) + len;
}

/* Writes a length-delimited field's tag and length; returns where its bytes go. */
static uint8_t *put_field_header(uint8_t *p, unsigned field, size_t len)
{
    *p++ = (uint8_t)(field << 3 | WIRE_LENGTH_DELIMITED);
    uint64_t v = len;
    for (; v >= 0x80; v >>= 7)
        *p++ = (uint8_t)(v | 0x80);
    *p++ = (uint8_t)v;
    return p;
}

size_t ev_otlp_encode(const char *service, ev_otlp_packed *const *spans, size_t n, uint8_t **buf,
                      size_t *cap)
{
    any_value name_value = EVENTIFY__OTLP__ANY_VALUE__INIT;
    name_value.value_case = EVENTIFY__OTLP__ANY_VALUE__VALUE_STRING_VALUE;
    name_value.string_value = (char *)service;
    key_value name = EVENTIFY__OTLP__KEY_VALUE__INIT;
    name.key = "service.name";
    name.value = &name_value;
    key_value *attributes = &name;
    Eventify__Otlp__Resource resource = EVENTIFY__OTLP__RESOURCE__INIT;
    resource.n_attributes = 1;
    resource.attributes = &attributes;
    Eventify__Otlp__InstrumentationScope scope = EVENTIFY__OTLP__INSTRUMENTATION_SCOPE__INIT;
    scope.name = "eventify";

    size_t resource_len = eventify__otlp__resource__get_packed_size(&resource);
    size_t scope_len = eventify__otlp__instrumentation_scope__get_packed_size(&scope);
    size_t scope_spans_len = field_size(scope_len);
    for (size_t i = 0; i < n; i++)
        scope_spans_len += field_size(spans[i]->len);
    size_t resource_spans_len = field_size(resource_len) + field_size(scope_spans_len);
    size_t need = field_size(resource_spans_len);
    if (need > *cap) {
        uint8_t *grown = realloc(*buf, need);
        if (!grown)
            return 0;
        *buf = grown;
        *cap = need;
    }
    uint8_t *p = put_field_header(*buf, REQUEST_RESOURCE_SPANS, resource_spans_len);
    p = put_field_header(p, RESOURCE_SPANS_RESOURCE, resource_len);
    p += eventify__otlp__resource__pack(&resource, p);
    p = put_field_header(p, RESOURCE_SPANS_SCOPE_SPANS, scope_spans_len);
    p = put_field_header(p, SCOPE_SPANS_SCOPE, scope_len);
    p += eventify__otlp__instrumentation_scope__pack(&scope, p);
    for (size_t i = 0; i < n; i++) {
        p = put_field_header(p, SCOPE_SPANS_SPANS, spans[i]->len);
        memcpy(p, spans[i]->bytes, spans[i]->len);
        p += spans[i]->len;
    }
    return (size_t)(p - *buf);
}
