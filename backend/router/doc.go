// Package router is the host-side front of a deployment: it spreads
// requests over model-server backends by weight (canary), mirrors them to
// a shadow and compares answers, keeps kept-alive connections to each
// backend, checks their health, gives every request an ID and hands each
// exchange to a Recorder (backend/predlog on the host). It takes a
// core.Clock for timestamps and throughput windows. backend/deployment
// builds one router per deployment.
package router
