# Stage: encoders (see the issue that builds it). Rules are added by that stage.
