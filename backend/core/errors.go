package core

import (
	"errors"
	"fmt"
)

// Code is what the UI can act on; the message is what a person reads.
type Code string

const (
	Invalid     Code = "invalid"
	NotFound    Code = "not_found"
	Conflict    Code = "conflict"
	Unavailable Code = "unavailable"
	Internal    Code = "internal"
)

// Error is the one error shape that crosses from the backend to either face.
type Error struct {
	Code Code   `json:"code"`
	Msg  string `json:"message"`
	// Err is the cause, kept for logs; it never reaches the UI.
	Err error `json:"-"`
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error with a message a person understands.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Wrap attaches a cause to a worded error.
func Wrap(err error, code Code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...), Err: err}
}

// ErrorCode is the code of err, Internal for errors that carry none.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// ErrorMessage is the sentence shown to a person. Errors that were never
// worded by Tern are not shown verbatim: their text may hold paths or
// internals, so the person gets a generic sentence and the log gets the rest.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Msg
	}
	return "Something went wrong inside Tern. The details are in the log."
}
