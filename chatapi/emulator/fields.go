package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// object is a request body: a JSON object whose fields are checked one by one, so that a
// wrong type gets the field's own ErrorCode.
type object map[string]json.RawMessage

var errMissing = errors.New("is missing")

func parseObject(body []byte) (object, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, errors.New("body is empty")
	}
	if body[0] != '{' {
		return nil, errors.New("body is not a JSON object")
	}
	var o object
	if err := json.Unmarshal(body, &o); err != nil {
		return nil, err
	}
	return o, nil
}

// jsonKind names the JSON type of a raw value.
func jsonKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "String"
	case '[':
		return "Array"
	case '{':
		return "Object"
	case 'n':
		return "null"
	case 't', 'f':
		return "Boolean"
	}
	return "Number"
}

func typeError(want string, raw json.RawMessage) error {
	return fmt.Errorf("must be %s, not %s", want, jsonKind(raw))
}

// optStr returns a String field; present is false when the field is absent.
func (o object) optStr(name string) (s string, present bool, err error) {
	raw, ok := o[name]
	if !ok {
		return "", false, nil
	}
	if jsonKind(raw) != "String" {
		return "", true, typeError("a String", raw)
	}
	err = json.Unmarshal(raw, &s)
	return s, true, err
}

// str returns a required String field.
func (o object) str(name string) (string, error) {
	s, present, err := o.optStr(name)
	if !present {
		return "", errMissing
	}
	return s, err
}

// optInt returns an Integer field within [lo, hi].
func (o object) optInt(name string, lo, hi int64) (n int64, present bool, err error) {
	raw, ok := o[name]
	if !ok {
		return 0, false, nil
	}
	if jsonKind(raw) != "Number" {
		return 0, true, typeError("an Integer", raw)
	}
	n, err = strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	if err != nil {
		return 0, true, fmt.Errorf("must be an Integer, not %s", bytes.TrimSpace(raw))
	}
	if n < lo || n > hi {
		return 0, true, fmt.Errorf("must be within %d..%d", lo, hi)
	}
	return n, true, nil
}

// integer returns a required Integer field within [lo, hi].
func (o object) integer(name string, lo, hi int64) (int64, error) {
	n, present, err := o.optInt(name, lo, hi)
	if !present {
		return 0, errMissing
	}
	return n, err
}

// optList returns an Array field's elements.
func (o object) optList(name string) (items []json.RawMessage, present bool, err error) {
	raw, ok := o[name]
	if !ok {
		return nil, false, nil
	}
	if jsonKind(raw) != "Array" {
		return nil, true, typeError("an Array", raw)
	}
	err = json.Unmarshal(raw, &items)
	return items, true, err
}

// optStrList returns an Array of String field.
func (o object) optStrList(name string) (ss []string, present bool, err error) {
	items, present, err := o.optList(name)
	if err != nil || !present {
		return nil, present, err
	}
	ss = make([]string, len(items))
	for i, it := range items {
		if jsonKind(it) != "String" {
			return nil, true, fmt.Errorf("must be an Array of String; item %d is %s", i, jsonKind(it))
		}
		if err := json.Unmarshal(it, &ss[i]); err != nil {
			return nil, true, err
		}
	}
	return ss, true, nil
}

// objects decodes Array elements that must be JSON objects.
func objects(items []json.RawMessage) ([]object, error) {
	out := make([]object, len(items))
	for i, it := range items {
		if jsonKind(it) != "Object" {
			return nil, fmt.Errorf("item %d must be an Object, not %s", i, jsonKind(it))
		}
		if err := json.Unmarshal(it, &out[i]); err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
	}
	return out, nil
}
