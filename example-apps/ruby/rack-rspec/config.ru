# frozen_string_literal: true

require "rack"
require_relative "app"

run HelloApp.new
